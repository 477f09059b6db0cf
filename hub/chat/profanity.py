"""Profanity filter for chat messages, Korean and English. Pure: no I/O, no state.

``moderate`` first folds the text one character to one character (NFKC compatibility forms
such as full-width or circled letters, accents, a few Cyrillic/Greek look-alikes, ASCII case),
so a position in the folded text is the same position in the input and masking never shifts
anything. Two patterns compiled once at import then scan the folded text. They tolerate
leetspeak ("sh1t", "@ss", "fvck"), repeated letters ("fuuuck", "씨씨발"), Korean
initial-consonant abbreviations ("ㅅㅂ") and up to three spaces, punctuation marks or digits
between letters ("f.u.c.k", "씨 발", "시1발").

Three rules keep innocent text clean (the Scunthorpe problem):

* English words that hide inside innocent words ("ass" in "class", "dick" in "Dickens", "cunt"
  in "Scunthorpe") only match as whole words, optionally with a listed ending ("dickhead").
* A match that spans whitespace must start and end on a word edge: "was hit" is not "shit",
  "혹시 발" (your foot, maybe) is not "시발", "씨 발라" (pick out the seeds) is not "씨발".
* Innocent words that contain a flagged form are listed and allowed ("시발점", "병신년").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
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
            "(?<![a-z0-9])c (?:[발빨팔바]|8(?![0-9]))",
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

# Innocent Korean words that contain a flagged form. A hit inside one of these is dropped.
_KO_ALLOWED: Final[tuple[str, ...]] = (
    # 始發: 시발점 (starting point), 시발역 (first station); 시발 was also Korea's first car.
    "시발(?:점|역|택시|자동차)",
    # A word ending in 시/씨 run into a 발- noun: 도시발전, 무시발언, 김씨발표.
    "(?<=[가-힣])[시씨]발(?:전|표|생|견|언|달|명|효|송|령|굴|족|육|행|매|휘|각|단|급(?!식))",
    # An adverb ending in 시 before a verb written without a space: 다시팔아, 혹시발라.
    "(?:다|혹|역|잠|즉|동|당|항|수)시[발벌팔빨]",
    # 丙申年: a year of the sexagenary cycle (1956, 2016). "병신년아" is still a hit.
    "병신년(?!아|들)",
    # 等身: 8등신 / 팔등신 (body proportions), 등신대 (life-size), 등신불 (a statue).
    "(?:[0-9]|[일이삼사오육칠팔구])등신",
    "등신(?:대|상|불)",
)

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

# English words that are never part of an innocent word: matched anywhere, and the whole
# word around them is masked ("motherfucker", "bullshit").
_EN_ANYWHERE: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("fuck", ("fuck", "fck", "fcuk", "phuck")),
    ("shit", ("shit", "shyt")),
    ("bitch", ("bitch", "biatch")),
    ("asshole", ("asshole", "arsehole")),
    ("bastard", ("bastard",)),
    ("whore", ("whore",)),
    ("bollocks", ("bollock",)),
    ("nigger", ("nigger",)),
    ("faggot", ("faggot",)),
    ("douchebag", ("douchebag",)),
)

# English words that hide inside innocent words (class, Dickens, Scunthorpe, cocktail,
# Fukushima, niggardly): whole words only, with these endings allowed.
_EN_WHOLE: Final[tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]] = (
    ("fuck", ("fuk", "fuq"), ("s", "ing", "in", "ed", "er", "ers")),
    (
        "ass",
        ("ass", "arse", "dumbass", "jackass", "smartass", "fatass"),
        ("es", "hat", "hats", "wipe", "face", "clown"),
    ),
    ("cunt", ("cunt",), ("s", "y")),
    ("dick", ("dick",), ("s", "head", "heads", "hole", "face", "wad")),
    ("cock", ("cock",), ("s", "sucker", "suckers", "head")),
    ("pussy", ("pussy", "pussies"), ()),
    ("slut", ("slut",), ("s", "ty")),
    ("twat", ("twat",), ("s",)),
    ("wanker", ("wank",), ("er", "ers", "ing", "ed", "s")),
    ("piss", ("piss",), ("ed", "es", "ing", "er")),
    ("nigga", ("nigga",), ("s", "z")),
    ("fag", ("fag",), ("s",)),
    ("wtf", ("wtf",), ()),
    ("stfu", ("stfu",), ()),
)

# Innocent English words that contain a flagged form.
_EN_ALLOWED: Final[tuple[str, ...]] = (
    r"shi+['’]?ites?",  # Shiite
    r"shi+t?akes?",  # shiitake mushrooms
    r"moby[\s-]*dick",
    r"cock[\s-]*a[\s-]*doodle",
)

# Look-alike letters NFKC leaves alone: Cyrillic and Greek capitals/lowercase that render
# like Latin ones ("fuсk" with a Cyrillic с).
_HOMOGLYPHS: Final = {
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

# ---------------------------------------------------------------------------------------------
# Compiled once at import.
# ---------------------------------------------------------------------------------------------

_COMPAT_JAMO_FIRST: Final = "\u3131"
_COMPAT_JAMO_LAST: Final = "\u318e"

# Code points whose compatibility form is worth folding: Latin-1 and Latin Extended (accents),
# Greek and Cyrillic (look-alikes), general punctuation, super/subscripts, letterlike symbols,
# enclosed alphanumerics, the ideographic space, half-/full-width forms, mathematical
# alphanumerics and enclosed alphanumeric supplement.
_FOLD_RANGES: Final = (
    (0x00A0, 0x0250),
    (0x0370, 0x0500),
    (0x2000, 0x2500),
    (0x3000, 0x3001),
    (0xFF00, 0xFFF0),
    (0x1D400, 0x1D800),
    (0x1F100, 0x1F200),
)


def _build_fold() -> dict[int, str]:
    """One character to one character: NFKC/NFKD base letter, lowercased; jamo kept compat."""
    # NFKC turns compatibility jamo (ㅅ) into conjoining jamo; the patterns use the former.
    to_compat = {}
    for cp in range(ord(_COMPAT_JAMO_FIRST), ord(_COMPAT_JAMO_LAST) + 1):
        conjoining = unicodedata.normalize("NFKC", chr(cp))
        if len(conjoining) == 1:
            to_compat[conjoining] = chr(cp)
    table = {cp: chr(cp + 32) for cp in range(ord("A"), ord("Z") + 1)}
    for lo, hi in _FOLD_RANGES:
        for cp in range(lo, hi):
            ch = chr(cp)
            base = "".join(
                c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
            )
            base = to_compat.get(base, base).lower()
            if len(base) == 1 and base != ch:
                table[cp] = base
    for ch, latin in _HOMOGLYPHS.items():
        table[ord(ch)] = latin
        upper = ch.upper()
        if len(upper) == 1:
            table[ord(upper)] = latin
    return table


_FOLD: Final = _build_fold()
_NEEDS_FOLD: Final = re.compile(
    "[A-Z" + "".join(f"{chr(lo)}-{chr(hi - 1)}" for lo, hi in _FOLD_RANGES) + "]"
)

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
    cannot start a word fails after a handful of steps whatever the number of spellings."""

    children: dict[str, _Node] = field(default_factory=dict)
    ends: list[str] = field(default_factory=list)


def _emit(node: _Node) -> str:
    """The regex for what follows a node: longer spellings first, then the ones ending here."""
    options = []
    if node.children:
        inner = "|".join(f"{unit}(?:{unit})*{_emit(child)}" for unit, child in node.children.items())
        options.append(f"{_SEP}(?:{inner})")
    options += node.ends
    return options[0] if len(options) == 1 else f"(?:{'|'.join(options)})"


def _compile(spellings: Sequence[tuple[int, Sequence[str], str]]) -> tuple[re.Pattern[str], list[int]]:
    """One pattern for (word index, units, tail) spellings, and the word index of each group.

    The pattern is an alternation whose branches each start with one literal character, so
    the regex engine skips positions that cannot start a word in C and tries only the
    branch for the character it stands on. Each spelling ends in an empty named group g<N>;
    ``match.lastgroup`` names the spelling, hence the word.
    """
    roots: dict[str, dict[str, _Node]] = {}
    owners: list[int] = []
    for word, units, tail in spellings:
        chars, guards = _split_first(units[0])
        head = f"{guards}(?:{units[0]})*"
        for ch in chars:
            node = roots.setdefault(ch, {}).setdefault(head, _Node())
            for unit in units[1:]:
                node = node.children.setdefault(unit, _Node())
            node.ends.append(f"{tail}(?P<g{len(owners)}>)")
            owners.append(word)
    branches = (
        re.escape(ch) + "(?:" + "|".join(head + _emit(node) for head, node in heads.items()) + ")"
        for ch, heads in roots.items()
    )
    return re.compile(f"(?:{'|'.join(branches)})"), owners


def _build_korean() -> tuple[re.Pattern[str], tuple[str, ...]]:
    spellings = [
        (index, spelling.split(" "), "")
        for index, (_, forms) in enumerate(_KO_WORDS)
        for spelling in forms
    ]
    pattern, owners = _compile(spellings)
    return pattern, tuple(_KO_WORDS[index][0] for index in owners)


def _en_units(spelling: str, whole: bool) -> list[str]:
    units = [f"[{re.escape(_LEET.get(ch, ch))}]" for ch in spelling]
    if whole:
        units[0] = "(?<![a-z])" + units[0]
    return units


def _build_english() -> tuple[re.Pattern[str], tuple[tuple[str, bool], ...]]:
    kinds: list[tuple[str, bool]] = []
    spellings: list[tuple[int, Sequence[str], str]] = []
    for word, forms in _EN_ANYWHERE:
        spellings += [(len(kinds), _en_units(form, whole=False), "") for form in forms]
        kinds.append((word, True))
    for word, forms, suffixes in _EN_WHOLE:
        ending = f"(?:{_SEP}(?:{'|'.join(suffixes)}))?" if suffixes else ""
        tail = f"{ending}(?![a-z])"
        spellings += [(len(kinds), _en_units(form, whole=True), tail) for form in forms]
        kinds.append((word, False))
    pattern, owners = _compile(spellings)
    return pattern, tuple(kinds[index] for index in owners)


_KO_PATTERN, _KO_NAMES = _build_korean()
_EN_PATTERN, _EN_KINDS = _build_english()
_KO_SUFFIX_RE: Final = re.compile(f"(?:{_KO_SUFFIX})")
_KO_ALLOWED_RE: Final = re.compile("|".join(_KO_ALLOWED))
_EN_ALLOWED_RE: Final = re.compile("|".join(_EN_ALLOWED))
_EN_LETTER: Final = re.compile(r"[a-z@$]")
_EN_WORD_CHAR: Final = re.compile(r"[a-z0-9]")
_LEET_SYMBOLS: Final = frozenset("".join(_LEET.values())) - frozenset("abcdefghijklmnopqrstuvwxyz")

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
    folded = text.translate(_FOLD) if _NEEDS_FOLD.search(text) else text
    found = _scan(_KO_PATTERN, folded, _accept_korean) + _scan(_EN_PATTERN, folded, _accept_english)
    if not found:
        return Moderation(text, ())
    found.sort()
    chars = list(text)
    for start, end, _ in found:
        chars[start:end] = "*" * (end - start)
    return Moderation("".join(chars), tuple(word for _, _, word in found))


# ---------------------------------------------------------------------------------------------
# Internals.
# ---------------------------------------------------------------------------------------------

_Span = tuple[int, int, str]


def _scan(
    pattern: re.Pattern[str], folded: str, accept: Callable[[str, re.Match[str]], _Span | None]
) -> list[_Span]:
    """Accepted hits, left to right; after a rejected match, look again one character on."""
    found: list[_Span] = []
    pos = 0
    while (match := pattern.search(folded, pos)) is not None:
        span = accept(folded, match)
        if span is None:
            pos = match.start() + 1
        else:
            found.append(span)
            pos = max(span[1], match.start() + 1)
    return found


def _is_word_char(ch: str) -> bool:
    """Letters and digits of any script, except jamo used on their own (ㅋㅋ, ㅠㅠ)."""
    return ch.isalnum() and not _COMPAT_JAMO_FIRST <= ch <= _COMPAT_JAMO_LAST


def _on_word_edges(folded: str, start: int, end: int) -> bool:
    before = start == 0 or not _is_word_char(folded[start - 1])
    after = end == len(folded) or not _is_word_char(folded[end])
    return before and after


def _allowed(pattern: re.Pattern[str], folded: str, start: int, end: int) -> bool:
    """Whether an allowed word covers folded[start:end]."""
    window = pattern.finditer(folded, max(0, start - 8), min(len(folded), end + 12))
    return any(m.start() <= start and m.end() >= end for m in window)


def _accept_korean(folded: str, match: re.Match[str]) -> _Span | None:
    start, end = match.span()
    if _allowed(_KO_ALLOWED_RE, folded, start, end):
        return None
    suffix = _KO_SUFFIX_RE.match(folded, end)
    if suffix is not None:
        end = suffix.end()
    span = folded[start:end]
    if any(ch.isspace() for ch in span) and not _on_word_edges(folded, start, end):
        return None
    assert match.lastgroup is not None  # noqa: S101 - every branch is a named group
    return start, end, _KO_NAMES[int(match.lastgroup[1:])]


def _accept_english(folded: str, match: re.Match[str]) -> _Span | None:
    start, end = match.span()
    span = folded[start:end]
    if _EN_LETTER.search(span) is None:  # "455" is a room number, not "ass"
        return None
    if _allowed(_EN_ALLOWED_RE, folded, start, end):
        return None
    assert match.lastgroup is not None  # noqa: S101 - every branch is a named group
    word, anywhere = _EN_KINDS[int(match.lastgroup[1:])]
    split = any(not ch.isalnum() and ch not in _LEET_SYMBOLS for ch in span)
    if split:
        if not _on_word_edges(folded, start, end):
            return None
    elif anywhere:
        while start > 0 and _EN_WORD_CHAR.match(folded, start - 1):
            start -= 1
        while end < len(folded) and _EN_WORD_CHAR.match(folded, end):
            end += 1
    return start, end, word
