"""Profanity filter for chat messages, Korean and English. Pure: no I/O, no state.

``moderate`` first folds the text one character to one character (case, NFKC compatibility
forms such as full-width or circled letters, accents, a few Cyrillic/Greek look-alikes), so a
position in the folded text is the same position in the input and masking never shifts
anything. Patterns compiled once at import then scan the folded text. They tolerate leetspeak
("sh1t", "@ss", "fvck"), repeated letters ("fuuuck", "씨씨발"), Korean initial-consonant
abbreviations ("ㅅㅂ") and up to three spaces, punctuation marks or digits between letters
("f.u.c.k", "f u c k", "씨 발", "시1발").

Three rules keep innocent text clean (the Scunthorpe problem):

* English words that hide inside innocent words ("ass" in "class", "dick" in "Dickens", "cunt"
  in "Scunthorpe") only match as whole words, optionally with a listed ending ("dickhead").
* A match that spans whitespace must start and end on a word edge: "was hit" is not "shit",
  "혹시 발" (your foot, maybe) is not "시발", "씨 발라" (pick out the seeds) is not "씨발".
  In English any separator counts ("this.hit" is clean, "f.u.c.k" is not).
* Innocent words that contain a flagged form are listed and allowed ("시발점", "병신년").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

# ---------------------------------------------------------------------------------------------
# Word lists. Data, not code, so that moderators can review and extend them in one place.
# ---------------------------------------------------------------------------------------------

# Korean: (normalized form, spellings). A spelling is regex units separated by spaces; a unit
# matches one syllable or jamo (it may repeat: "씨씨발"), and up to three spaces, punctuation
# marks or digits may stand between units. Short forms are listed only where they are not also
# ordinary words: "새끼" alone is a young animal, "미친" alone means "reached" (영향을 미친),
# "씹다" is to chew, "보지 마" is "don't look", so those need a companion syllable to match.
_KO_WORDS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    (
        "씨발",
        (
            "[씨쒸쓰씌싀쉬시ㅆㅅ] [발빨벌뻘팔펄ㅂ]",
            "[씨쒸쓰씌ㅆ] [바빠]",
            # "시바" only on its own: 시바견 (Shiba dog), 도시바 (Toshiba), 시바타 (a surname).
            "(?<![가-힣])[시쉬] [바빠](?![가-힣])",
            "[씨시쓰] 이 [발빨바]",
            "씨 8",
            "(?<![a-z0-9])c [발빨팔바]",  # not "c8": chess squares, hex, part numbers
            "[씨쓰] 부 [랄럴]",
        ),
    ),
    # Only with a second part: "씹다" (to chew) and "씹었어" (ignored my text) are ordinary.
    ("씹", ("씹 (?:새끼|새기|색기|새|년|놈|할|팔|창|탱|쌔)",)),
    ("좆", ("[좆좃]", "ㅈ (?:같|까|밥)")),
    ("존나", ("존 [나내]", "조 낸", "ㅈ ㄴ")),
    ("병신", ("[병븅빙뱅] [신쉰싄씬]", "ㅂ ㅅ", "ㅄ")),
    ("등신", ("등 신",)),
    (
        "개새끼",
        (
            "개 [새세섀쌔쉐] [끼기키퀴]",
            "개 [색샛샊] [기히끼키]",
            "개 [쉑쌕]",
            "ㄱ ㅅ ㄲ",
        ),
    ),
    ("새끼", ("ㅅ ㄲ",)),
    ("지랄", ("[지즤찌] [랄럴]", "ㅈ ㄹ")),
    # Not "닥쳐오다" (to approach) nor "위기가 닥쳐서" (a crisis struck).
    ("닥쳐", ("닥 [쳐처](?![오올온왔와서도야])", "닥 치 (?:라|셈)", "ㄷ ㅊ")),
    # Not "불이 꺼져 있어" / "꺼져서" / "꺼져버렸다": a light or a screen going out.
    (
        "꺼져",
        (
            r"꺼 [져저](?![있서요도가야진지간갔]|버(?!려)|\s*있)",
            "꺼 지 (?:라|셈)",
            "ㄲ ㅈ",
        ),
    ),
    ("미친놈", ("미 [친췬틴] (?:놈|넘|년|뇬|새끼|새기|색기|색히|쌔끼)", "ㅁ ㅊ [ㄴ놈년]")),
    ("또라이", ("또 라 이",)),
    ("썅", ("썅",)),
    # Not 전염병 / 감염병 (infectious disease).
    ("염병", ("(?<![전감])염 병",)),
    ("니애미", ("니 [애에] 미", "느 금 마", "니 미 럴", "니 기 미", "엠 창")),
    ("호로새끼", ("호 로 (?:새끼|자식|놈)",)),
)

# Endings that make a Korean hit longer, so "씨발놈" and "좆같은" are masked whole.
_KO_SUFFIX: Final = "새끼|새기|색기|색히|쌔끼|놈|년|넘|련|같은|같이|같네|같다|같아"

# Innocent Korean words that contain a flagged form, by the form they contain. A hit that one
# of these covers is dropped.
_KO_ALLOWED: Final[dict[str, tuple[str, ...]]] = {
    "씨발": (
        # 始發: 시발점 (starting point), 시발역 (first station); 시발 was Korea's first car (1955).
        "시발(?:점|역|택시|자동차)",
        # A word ending in 시/씨 run into a 발- noun: 도시발전, 무시발언, 김씨발표.
        "(?<=[가-힣])[시씨]발(?:전|표|생|견|언|달|명|효|송|령|굴|족|육|행|매|휘|각|단|급(?!식))",
        # An adverb ending in 시 before a verb, written without a space: 다시팔아, 혹시발라.
        "(?:다|혹|역|잠|즉|동|당|항|수)시[발벌팔빨]",
        # The dog breed, written apart: 시바 이누, 시바 견.
        r"시바\s*(?:이누|견)",
    ),
    # 丙申年: a year of the sexagenary cycle (1956, 2016). "병신년아" is still a hit.
    "병신": ("병신년(?!아|들)",),
    # 等身: 8등신 / 팔등신 (body proportions), 등신대 (life-size), 등신불 (a statue).
    "등신": ("(?:[0-9]|[일이삼사오육칠팔구])등신", "등신(?:대|상|불)"),
}

# English leetspeak: the characters that may stand for a letter. "*" stands for any vowel
# because people self-censor that way ("f*ck", "sh*t").
_LEET: Final[dict[str, str]] = {
    "a": "a4@*",
    "b": "b8",
    "c": "c(",
    "e": "e3*",
    "g": "g9",
    "h": "h#",
    "i": "i1!|*",
    "l": "l1|",
    "o": "o0*",
    "s": "s5$",
    "t": "t7+",
    "u": "uv*",
}

# English words never part of an innocent word: matched anywhere, and the whole word around
# them is masked ("motherfucker", "bullshit", "sonofabitch").
_EN_ANYWHERE: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("fuck", ("fuck", "fck", "fcuk", "phuck")),
    ("shit", ("shit", "shyt")),
    ("bitch", ("bitch", "biatch")),
)

# Words in Latin letters matched as whole words only, with these endings allowed. Some hide
# inside innocent words (class, Dickens, Scunthorpe, cocktail, Fukushima, niggardly); the
# others are here because a word start is much cheaper to look for than every letter.
_EN_WHOLE: Final[tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]] = (
    ("fuck", ("fuk", "fuq"), ("s", "ing", "in", "ed", "er", "ers")),
    (
        "ass",
        ("ass", "arse", "dumbass", "jackass", "smartass", "fatass"),
        ("es", "hat", "hats", "wipe", "face", "clown"),
    ),
    ("asshole", ("asshole", "arsehole"), ("s",)),
    ("bastard", ("bastard",), ("s",)),
    ("cunt", ("cunt",), ("s", "y")),
    ("dick", ("dick",), ("s", "head", "heads", "hole", "face", "wad")),
    ("cock", ("cock",), ("s", "sucker", "suckers", "head")),
    ("pussy", ("pussy", "pussies"), ()),
    ("slut", ("slut",), ("s", "ty")),
    ("whore", ("whore",), ("s",)),
    ("twat", ("twat",), ("s",)),
    ("wanker", ("wank",), ("er", "ers", "ing", "ed", "s")),
    ("piss", ("piss",), ("ed", "es", "ing", "er")),
    ("bollocks", ("bollock",), ("s",)),
    ("nigger", ("nigger",), ("s",)),
    ("nigga", ("nigga",), ("s", "z")),
    ("faggot", ("faggot",), ("s",)),
    ("fag", ("fag",), ("s",)),
    ("douchebag", ("douchebag",), ("s",)),
    ("wtf", ("wtf",), ()),
    ("stfu", ("stfu",), ()),
    # Korean typed with the keyboard left in English (시발 -> "tlqkf") or romanized.
    ("씨발", ("tlqkf", "sibal", "ssibal", "shibal"), ()),
    ("병신", ("qudtls",), ()),
    ("지랄", ("wlfkf",), ()),
    ("존나", ("whssk",), ()),
    ("개새끼", ("rotorl",), ()),
)

# Innocent English words that contain a flagged form, by the form they contain.
_EN_ALLOWED: Final[dict[str, tuple[str, ...]]] = {
    # Shiite; shiitake; Japanese names in -shita (Yamashita, Matsushita, Kinoshita).
    "shit": (r"shi+['’]?ites?", r"shi+t?a(?!ss)"),
    "dick": (r"moby[\s-]*dick",),
    "cock": (r"cock[\s-]*a[\s-]*doodle",),
}

# Look-alike letters that NFKC leaves alone: Cyrillic and Greek letters that render like
# Latin ones ("fuсk" with a Cyrillic с).
_HOMOGLYPHS: Final[dict[str, str]] = {
    "а": "a",
    "в": "b",
    "е": "e",
    "к": "k",
    "м": "m",
    "н": "h",
    "о": "o",
    "р": "p",
    "с": "c",
    "т": "t",
    "у": "y",
    "х": "x",
    "і": "i",
    "ѕ": "s",
    "ј": "j",
    "α": "a",
    "β": "b",
    "ε": "e",
    "ι": "i",
    "κ": "k",
    "ν": "v",
    "ο": "o",
    "ρ": "p",
    "τ": "t",
    "υ": "u",
    "χ": "x",
}

# Separators tolerated between letters: spaces, punctuation, digits, symbols, emoji,
# zero-width characters and combining marks; at most three in a row.
_SEP: Final = r"[\W\d_]{0,3}"

# How often a letter may repeat ("fuuuck", "씨씨발"). Bounded so that a run of one letter costs
# linear time: "씨" * 4000 would otherwise be tried from every position to its end.
_REPEAT: Final = "{0,30}"

# What may stand before an English whole word: controls, whitespace and punctuation (ASCII,
# Latin-1, general and CJK). Letters, digits and Hangul may not. Ranges, not "\s": a category
# is slower to test, and this class is tested at every character of a message.
_BOUNDARY: Final = r"[\x00-/:-@\[-`{-\x7f\x85\xa0-\xbf\u1680\u2000-\u205f\u3000-\u303f]"

# ---------------------------------------------------------------------------------------------
# Public interface.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moderation:
    """The outcome of moderating one message."""

    text: str  # the input with every profane span replaced by '*' of the same length
    hits: tuple[str, ...]  # the normalized forms that matched, in order

    @property
    def clean(self) -> bool:
        return not self.hits


def moderate(text: str) -> Moderation:
    """Mask Korean and English profanity in ``text``; the result has the same length."""
    folded = _fold(text)
    padded = " " + folded  # every pattern may look one character back, even at the start
    found: list[_Span] = []
    # Korean needs Hangul, so a non-ASCII character; English needs a Latin letter, "@" or "$".
    # Telling is far cheaper than a scan, and most messages are one or the other.
    if not folded.isascii():
        found += _scan(_KO_SCANNER, folded, padded)
    if folded.isascii() or folded.encode("ascii", "ignore").translate(None, _NOT_LATIN):
        for scanner in _EN_SCANNERS:
            found += _scan(scanner, folded, padded)
    if not found:
        return Moderation(text, ())
    found.sort()
    pieces: list[str] = []
    done = 0  # spans may overlap (a Korean and an English hit)
    for start, end, _ in found:
        if end > done:
            pieces += (text[done:start], "*" * (end - max(start, done)))
            done = end
    pieces.append(text[done:])
    return Moderation("".join(pieces), tuple(word for _, _, word in found))


# ---------------------------------------------------------------------------------------------
# Folding, built once at import.
# ---------------------------------------------------------------------------------------------

_COMPAT_JAMO: Final = (0x3131, 0x318E)  # ㄱ..ㆎ, the jamo people type on their own

# Code points whose compatibility form is worth folding: Latin-1 and Latin Extended (accents),
# Greek and Cyrillic (look-alikes), general punctuation, super/subscripts, letterlike symbols,
# enclosed alphanumerics, the ideographic space, half-/full-width forms and mathematical
# alphanumerics (the "𝐟𝐚𝐧𝐜𝐲 𝓽𝓮𝔁𝓽" generators use).
_FOLD_RANGES: Final = (
    (0x00A0, 0x0250),
    (0x0370, 0x0500),
    (0x2000, 0x2500),
    (0x3000, 0x3001),
    (0xFF00, 0xFFF0),
    (0x1D400, 0x1D800),
)


def _build_fold() -> dict[int, str]:
    """Code point -> one lowercase character: the NFKD base letter, with combining marks
    dropped; half-width jamo go to the compatibility jamo the patterns use."""
    to_compat = {}
    for cp in range(_COMPAT_JAMO[0], _COMPAT_JAMO[1] + 1):
        conjoining = unicodedata.normalize("NFKC", chr(cp))
        if len(conjoining) == 1:
            to_compat[conjoining] = chr(cp)
    table = {}
    for lo, hi in _FOLD_RANGES:
        for cp in range(lo, hi):
            ch = chr(cp)
            decomposed = unicodedata.normalize("NFKD", ch)
            base = "".join(c for c in decomposed if not unicodedata.combining(c))
            base = to_compat.get(base, base).lower()
            if len(base) == 1 and base != ch:
                table[cp] = base
    for ch, latin in _HOMOGLYPHS.items():
        table[ord(ch)] = table[ord(ch.upper())] = latin
    return table


_FOLD: Final = _build_fold()
_FOLD_CLASS: Final = "".join(f"\\U{lo:08x}-\\U{hi - 1:08x}" for lo, hi in _FOLD_RANGES)
# A run to fold: it may carry on over printable ASCII, so that full-width text with ASCII
# spaces is one run rather than one per word.
_FOLDABLE: Final = re.compile(f"[{_FOLD_CLASS}][{_FOLD_CLASS} -~]*")
# To tell which texts need _FOLDABLE at all: the high bytes of the UTF-16 code units in
# _FOLD_RANGES, and the surrogate that starts U+1D400..U+1D7FF.
_FOLD_HIGH_BYTES: Final = bytes(
    sorted({cp >> 8 for lo, hi in _FOLD_RANGES if hi <= 0x10000 for cp in range(lo, hi)} - {0})
)
_NOT_FOLD_HIGH_BYTES: Final = bytes(b for b in range(256) if b not in _FOLD_HIGH_BYTES)
_MATH_SURROGATE: Final = b"\x35\xd8"  # U+D835, little-endian


def _fold_run(match: re.Match[str]) -> str:
    run = match[0]
    # Full-width or math letters: NFKC in C. No character normalizes to nothing, so an ASCII
    # result as long as the run maps each character to exactly one.
    nfkc = unicodedata.normalize("NFKC", run)
    if len(nfkc) == len(run) and nfkc.isascii():
        return nfkc.lower()
    return run.translate(_FOLD)


def _fold(text: str) -> str:
    """Lowercase and fold ``text`` one character to one character.

    Most of the work is C-speed: str.lower, and byte operations to tell whether any character
    needs the table at all (a regex scan of a 4,000-character Korean message costs more than
    the rest of ``moderate``)."""
    if text.isascii():
        return text.lower()
    latin1 = text.encode("latin-1", "ignore")  # the ASCII and Latin-1 characters, in order
    if latin1 != latin1.lower():  # ASCII capitals
        lowered = text.lower()
        if len(lowered) != len(text):  # a few letters ("İ") lowercase to two characters
            lowered = "".join(low if len(low := ch.lower()) == 1 else ch for ch in text)
        text = lowered
    if latin1.isascii():
        units = text.encode("utf-16-le", "surrogatepass")
        high = units[1::2].translate(None, _NOT_FOLD_HIGH_BYTES)
        if not high and _MATH_SURROGATE not in units:
            return text
    return _FOLDABLE.sub(_fold_run, text)


# ---------------------------------------------------------------------------------------------
# Patterns, built once at import.
# ---------------------------------------------------------------------------------------------

_LEADING_GUARD: Final = re.compile(r"\(\?<(?P<kind>[=!])(?P<body>[^()]*)\)")


def _split_first(unit: str) -> tuple[list[str], str]:
    """A first unit as (the characters it starts with, its lookbehinds moved after them).

    "(?<![가-힣])[시쉬]" becomes (["시", "쉬"], "(?<![가-힣][\\s\\S])"): the same check, made
    once the character has been consumed.
    """
    guards = []
    while (guard := _LEADING_GUARD.match(unit)) is not None:
        guards.append(f"(?<{guard['kind']}{guard['body']}[\\s\\S])")
        unit = unit[guard.end() :]
    if len(unit) == 1:
        return [unit], "".join(guards)
    if not (unit.startswith("[") and unit.endswith("]")):
        raise ValueError(f"a first unit is one character or a class of characters: {unit!r}")
    chars, inside = [], iter(unit[1:-1])
    for ch in inside:
        chars.append(next(inside) if ch == "\\" else ch)
    return chars, "".join(guards)


@dataclass
class _Node:
    """A trie of units: spellings that share a start share its regex, so a position that
    cannot start a word fails after a few steps however many spellings there are."""

    children: dict[str, _Node] = field(default_factory=dict)
    ends: list[str] = field(default_factory=list)


def _emit(node: _Node) -> str:
    """The regex for what follows a node: longer spellings first, then the ones ending here."""
    options = []
    if node.children:
        inner = "|".join(
            f"{unit}(?:{unit}){_REPEAT}{_emit(child)}" for unit, child in node.children.items()
        )
        options.append(f"{_SEP}(?:{inner})")
    options += node.ends
    return options[0] if len(options) == 1 else f"(?:{'|'.join(options)})"


def _alternation(spellings: Iterable[tuple[str, Sequence[str], str]]) -> tuple[str, list[str]]:
    """A regex for (word, units, tail) spellings, and the word of each named group.

    The regex is an alternation whose branches each start with one literal character, so the
    regex engine skips positions that cannot start a word in C and tries only the branch for
    the character it stands on. Each spelling ends in an empty named group g<N>, so
    ``match.lastgroup`` names the spelling, hence the word.
    """
    roots: dict[str, dict[str, _Node]] = {}
    words: list[str] = []
    for word, units, tail in spellings:
        chars, guards = _split_first(units[0])
        head = f"{guards}(?:{units[0]}){_REPEAT}+"  # possessive: nothing to give back
        for ch in chars:
            node = roots.setdefault(ch, {}).setdefault(head, _Node())
            for unit in units[1:]:
                node = node.children.setdefault(unit, _Node())
            node.ends.append(f"{tail}(?P<g{len(words)}>)")
            words.append(word)
    branches = (
        re.escape(ch) + "(?:" + "|".join(head + _emit(node) for head, node in heads.items()) + ")"
        for ch, heads in roots.items()
    )
    return f"(?:{'|'.join(branches)})", words


def _en_units(spelling: str) -> list[str]:
    return [f"[{re.escape(_LEET.get(ch, ch))}]" for ch in spelling]


def _en_tail(suffixes: Sequence[str]) -> str:
    ending = f"(?:{_SEP}(?:{'|'.join(suffixes)}))?" if suffixes else ""
    return f"{ending}(?![a-z])"


def _allowed_patterns(allowed: dict[str, tuple[str, ...]]) -> dict[str, re.Pattern[str]]:
    return {word: re.compile("|".join(forms)) for word, forms in allowed.items()}


_KO_REGEX, _KO_NAMES = _alternation(
    (word, spelling.split(" "), "") for word, forms in _KO_WORDS for spelling in forms
)
_EN_ANYWHERE_REGEX, _EN_ANYWHERE_NAMES = _alternation(
    (word, _en_units(form), "") for word, forms in _EN_ANYWHERE for form in forms
)
_EN_WHOLE_REGEX, _EN_WHOLE_NAMES = _alternation(
    (word, _en_units(form), _en_tail(suffixes))
    for word, forms, suffixes in _EN_WHOLE
    for form in forms
)
_KO_SUFFIX_RE: Final = re.compile(f"(?:{_KO_SUFFIX})")
_KO_ALLOWED_RE: Final = _allowed_patterns(_KO_ALLOWED)
_EN_ALLOWED_RE: Final = _allowed_patterns(_EN_ALLOWED)
_EN_LETTER: Final = re.compile(r"[a-z@$]")
_EN_WORD_CHAR: Final = re.compile(r"[a-z0-9]")
_LEET_SYMBOLS: Final = "".join(
    sorted(set("".join(_LEET.values())) - set("abcdefghijklmnopqrstuvwxyz"))
)
_EN_SPLIT: Final = re.compile(f"[^a-z0-9{re.escape(_LEET_SYMBOLS)}]")
_SPACE: Final = re.compile(r"\s")
_NOT_LATIN: Final = bytes(b for b in range(256) if chr(b) not in "abcdefghijklmnopqrstuvwxyz@$")

# ---------------------------------------------------------------------------------------------
# Scanning.
# ---------------------------------------------------------------------------------------------

_Span = tuple[int, int, str]
_Accept = Callable[[str, int, int, str], tuple[int, int] | None]


@dataclass(frozen=True)
class _Scanner:
    pattern: re.Pattern[str]
    words: tuple[str, ...]  # by group number
    lead: int  # characters a match consumes before the word itself
    accept: _Accept  # (folded, start, end, word) -> the span to mask, or None to drop the hit


def _scan(scanner: _Scanner, folded: str, padded: str) -> list[_Span]:
    """Accepted hits, left to right, as spans of ``folded`` (``padded`` is " " + folded).
    After a dropped match, look again one character on."""
    found: list[_Span] = []
    pos = 0
    while (match := scanner.pattern.search(padded, pos)) is not None:
        assert match.lastgroup is not None  # noqa: S101 - every spelling ends in a named group
        word = scanner.words[int(match.lastgroup[1:])]
        span = scanner.accept(folded, match.start() + scanner.lead - 1, match.end() - 1, word)
        if span is None:
            pos = match.start() + 1
        else:
            found.append((span[0], span[1], word))
            pos = max(span[1] + 1, match.start() + 1)
    return found


def _is_word_char(ch: str) -> bool:
    """Letters and digits of any script, except jamo typed on their own (ㅋㅋ, ㅠㅠ)."""
    return ch.isalnum() and not _COMPAT_JAMO[0] <= ord(ch) <= _COMPAT_JAMO[1]


def _on_word_edges(folded: str, start: int, end: int) -> bool:
    before = start == 0 or not _is_word_char(folded[start - 1])
    after = end == len(folded) or not _is_word_char(folded[end])
    return before and after


def _allowed(pattern: re.Pattern[str] | None, folded: str, start: int, end: int) -> bool:
    """Whether an allowed word covers folded[start:end]."""
    if pattern is None:
        return False
    window = pattern.finditer(folded, max(0, start - 8), min(len(folded), end + 12))
    return any(m.start() <= start and m.end() >= end for m in window)


def _accept_korean(folded: str, start: int, end: int, word: str) -> tuple[int, int] | None:
    if _allowed(_KO_ALLOWED_RE.get(word), folded, start, end):
        return None
    suffix = _KO_SUFFIX_RE.match(folded, end)
    if suffix is not None:
        end = suffix.end()
    if _SPACE.search(folded, start, end) and not _on_word_edges(folded, start, end):
        return None
    return start, end


def _accept_english(
    folded: str, start: int, end: int, word: str, *, anywhere: bool
) -> tuple[int, int] | None:
    if _EN_LETTER.search(folded, start, end) is None:  # "455" is a room number, not "ass"
        return None
    if _allowed(_EN_ALLOWED_RE.get(word), folded, start, end):
        return None
    if _EN_SPLIT.search(folded, start, end):
        return (start, end) if _on_word_edges(folded, start, end) else None
    if anywhere:  # mask the whole word: "motherfucker", not "mother****er"
        while start > 0 and _EN_WORD_CHAR.match(folded, start - 1):
            start -= 1
        while end < len(folded) and _EN_WORD_CHAR.match(folded, end):
            end += 1
    return start, end


def _accept_english_anywhere(
    folded: str, start: int, end: int, word: str
) -> tuple[int, int] | None:
    return _accept_english(folded, start, end, word, anywhere=True)


def _accept_english_whole(folded: str, start: int, end: int, word: str) -> tuple[int, int] | None:
    return _accept_english(folded, start, end, word, anywhere=False)


_KO_SCANNER: Final = _Scanner(re.compile(_KO_REGEX), tuple(_KO_NAMES), 0, _accept_korean)
_EN_SCANNERS: Final = (
    _Scanner(
        re.compile(_EN_ANYWHERE_REGEX), tuple(_EN_ANYWHERE_NAMES), 0, _accept_english_anywhere
    ),
    # Whole words: the match starts with the character before the word, so that the regex
    # engine only stops at spaces and punctuation rather than at every letter.
    _Scanner(
        re.compile(_BOUNDARY + _EN_WHOLE_REGEX), tuple(_EN_WHOLE_NAMES), 1, _accept_english_whole
    ),
)
