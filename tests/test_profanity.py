"""The profanity filter: Korean and English hits, evasions, masking, and innocent text kept."""

from __future__ import annotations

import dataclasses
import time

import pytest

from hub.chat.profanity import Moderation, moderate


def _masked_only_where_flagged(original: str, result: Moderation) -> bool:
    """Same length, and every character either kept or replaced by '*'."""
    return len(result.text) == len(original) and all(
        kept == new or new == "*" for kept, new in zip(original, result.text, strict=True)
    )


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("씨발", "씨발"),
        ("시발", "씨발"),
        ("씨바", "씨발"),
        ("씨팔", "씨발"),
        ("쓰벌", "씨발"),
        ("시바 진짜", "씨발"),
        ("c발", "씨발"),
        ("씨8", "씨발"),
        ("씨부랄", "씨발"),
        ("씹새끼", "씹"),
        ("좆같네", "좆"),
        ("존나 싫어", "존나"),
        ("병신", "병신"),
        ("븅신", "병신"),
        ("이 병신년아", "병신"),
        ("등신", "등신"),
        ("개새끼", "개새끼"),
        ("개색기", "개새끼"),
        ("개쉑", "개새끼"),
        ("지랄하네", "지랄"),
        ("닥쳐", "닥쳐"),
        ("닥치라고", "닥쳐"),
        ("미친놈", "미친놈"),
        ("미친년", "미친놈"),
        ("꺼져", "꺼져"),
        ("꺼져버려", "꺼져"),
        ("또라이", "또라이"),
        ("썅", "썅"),
        ("염병하네", "염병"),
        ("니애미", "니애미"),
        ("느금마", "니애미"),
        ("호로새끼", "호로새끼"),
    ],
)
def test_korean_profanity_is_flagged(text: str, word: str) -> None:
    """Common Korean profanity is caught and reported by its normalized form."""
    result = moderate(text)
    assert result.hits == (word,)
    assert not result.clean


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("fuck", "fuck"),
        ("fucking", "fuck"),
        ("motherfucker", "fuck"),
        ("shit", "shit"),
        ("bullshit", "shit"),
        ("bitch", "bitch"),
        ("sonofabitch", "bitch"),
        ("asshole", "asshole"),
        ("assholes", "asshole"),
        ("ass", "ass"),
        ("dumbass", "ass"),
        ("bastard", "bastard"),
        ("cunt", "cunt"),
        ("dick", "dick"),
        ("dickhead", "dick"),
        ("cock", "cock"),
        ("pussy", "pussy"),
        ("slut", "slut"),
        ("whore", "whore"),
        ("twat", "twat"),
        ("wanker", "wanker"),
        ("pissed", "piss"),
        ("bollocks", "bollocks"),
        ("nigger", "nigger"),
        ("niggas", "nigga"),
        ("faggot", "faggot"),
        ("douchebag", "douchebag"),
        ("wtf", "wtf"),
        ("stfu", "stfu"),
    ],
)
def test_english_profanity_is_flagged(text: str, word: str) -> None:
    """Common English profanity is caught and reported by its normalized form."""
    assert moderate(text).hits == (word,)


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("씨 발", "씨발"),
        ("시1발", "씨발"),
        ("씨.발", "씨발"),
        ("씨-_-발", "씨발"),
        ("씨\u200b발", "씨발"),
        ("병 신", "병신"),
        ("개 새 끼", "개새끼"),
        ("f.u.c.k", "fuck"),
        ("f u c k", "fuck"),
        ("f  u  c  k", "fuck"),
        ("f-u-c-k", "fuck"),
        ("s_h_i_t", "shit"),
        ("fu\u200bck", "fuck"),
        ("b.i.t.c.h", "bitch"),
    ],
)
def test_separators_between_letters_are_seen_through(text: str, word: str) -> None:
    """Spaces, punctuation, digits and zero-width characters inserted between letters."""
    result = moderate(text)
    assert result.hits == (word,)
    assert result.text == "*" * len(text)


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("sh1t", "shit"),
        ("5hit", "shit"),
        ("$hit", "shit"),
        ("sh!t", "shit"),
        ("sh*t", "shit"),
        ("@ss", "ass"),
        ("a$$", "ass"),
        ("a$$hole", "asshole"),
        ("fvck", "fuck"),
        ("f*ck", "fuck"),
        ("fcuk", "fuck"),
        ("phuck", "fuck"),
        ("b!tch", "bitch"),
        ("b1tch", "bitch"),
        ("d1ck", "dick"),
        ("c0ck", "cock"),
        ("pu55y", "pussy"),
    ],
)
def test_leetspeak_is_seen_through(text: str, word: str) -> None:
    """Digits and symbols standing for letters, and '*' standing for a vowel."""
    assert moderate(text).hits == (word,)


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("fuuuck", "fuck"),
        ("fuuuuuuuuuuuuuuuuuuuuuuuck", "fuck"),
        ("ffffuck", "fuck"),
        ("shiiiiit", "shit"),
        ("assss", "ass"),
        ("씨씨발", "씨발"),
        ("씨이이발", "씨발"),
        ("지랄랄", "지랄"),
    ],
)
def test_repeated_letters_are_seen_through(text: str, word: str) -> None:
    """Letters and syllables repeated for emphasis or evasion."""
    result = moderate(text)
    assert result.hits == (word,)
    assert result.text == "*" * len(text)


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("tlqkf", "씨발"),
        ("TLQKF", "씨발"),
        ("sibal", "씨발"),
        ("qudtls", "병신"),
        ("wlfkf", "지랄"),
    ],
)
def test_korean_typed_on_an_english_keyboard_is_flagged(text: str, word: str) -> None:
    """Korean profanity typed with the keyboard in English mode, or romanized, is caught."""
    assert moderate(text).hits == (word,)


@pytest.mark.parametrize("text", ["FUCK", "FuCk", "fUcK", "Shit", "ASS", "BiTcH"])
def test_case_does_not_matter(text: str) -> None:
    """Mixed and upper case are caught like lower case."""
    result = moderate(text)
    assert not result.clean
    assert result.text == "*" * len(text)


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("ㅅㅂ", "씨발"),
        ("ㅆㅂ", "씨발"),
        ("ㅅ ㅂ", "씨발"),
        ("ㅅ발", "씨발"),
        ("ㅂㅅ", "병신"),
        ("ㅄ", "병신"),
        ("ㅈㄹ", "지랄"),
        ("ㅈㄴ", "존나"),
        ("ㅈ같네", "좆"),
        ("ㄷㅊ", "닥쳐"),
        ("ㄲㅈ", "꺼져"),
        ("ㅅㄲ", "새끼"),
        ("ㄱㅅㄲ", "개새끼"),
        ("ㅁㅊㄴ", "미친놈"),
    ],
)
def test_initial_consonant_abbreviations_are_flagged(text: str, word: str) -> None:
    """Korean initial-consonant (초성) abbreviations are caught."""
    assert moderate(text).hits == (word,)


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("ｆｕｃｋ", "fuck"),
        ("ＦＵＣＫ", "fuck"),
        ("ｓｈｉｔ", "shit"),
        ("ｆ ｕ ｃ ｋ", "fuck"),
        ("𝐟𝐮𝐜𝐤", "fuck"),
        ("𝓯𝓾𝓬𝓴", "fuck"),
        ("ⓕⓤⓒⓚ", "fuck"),
        ("fück", "fuck"),
        ("fuсk", "fuck"),  # a Cyrillic с
        ("씨\u3000발", "씨발"),  # an ideographic space
        ("ＦＵＣＫ 씨발", "fuck"),
    ],
)
def test_compatibility_forms_are_folded(text: str, word: str) -> None:
    """Full-width, mathematical, circled, accented and look-alike letters (NFKC and more)."""
    result = moderate(text)
    assert result.hits[0] == word
    assert _masked_only_where_flagged(text, result)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("선생님 씨발 진짜", "선생님 ** 진짜"),
        ("씨 발 뭐야", "*** 뭐야"),
        ("씨발놈아", "***아"),
        ("좆같은 숙제", "*** 숙제"),
        ("ㅋㅋ시발ㅋㅋ", "ㅋㅋ**ㅋㅋ"),
        ("you are a fucking idiot", "you are a ******* idiot"),
        ("This is bullshit!", "This is ********!"),
        ("what the f.u.c.k.", "what the *******."),
        ("(ass)", "(***)"),
        ("ＦＵＣＫ you", "**** you"),
        ("hello 世界 씨발 fuck 😀", "hello 世界 ** **** 😀"),
        ("🤬씨발🤬", "🤬**🤬"),
    ],
)
def test_masking_keeps_length_and_clean_parts(text: str, masked: str) -> None:
    """Only the profane span becomes '*', one per character; the rest is untouched."""
    result = moderate(text)
    assert result.text == masked
    assert len(result.text) == len(text)


def test_hits_are_reported_in_order_with_repeats() -> None:
    """Every occurrence is a hit, in the order they appear, across languages."""
    result = moderate("shit 씨발 FUCK 씨발 ㅂㅅ")
    assert result.hits == ("shit", "씨발", "fuck", "씨발", "병신")
    assert result.text == "**** ** **** ** **"


def test_a_long_message_is_masked_only_at_its_hits() -> None:
    """In a 4,000-character message, one hit in the middle is the only change."""
    filler = "오늘 수업 끝나고 도서관에서 과제 같이 할 사람? See you in class at 3. "
    head, tail = filler * 40, filler * 40
    result = moderate(head + "씨발 " + tail)
    assert result.text == head + "** " + tail
    assert result.hits == ("씨발",)


@pytest.mark.parametrize(
    "text",
    [
        "class",
        "classic",
        "assessment",
        "assignment",
        "assistant",
        "assassin",
        "Massachusetts",
        "grass",
        "bass",
        "harass",
        "embarrass",
        "passion",
        "I passed the test",
        "Dickens",
        "Dickinson",
        "cocktail",
        "cockpit",
        "peacock",
        "Hancock",
        "shuttlecock",
        "Scunthorpe",
        "shiitake",
        "shitake",
        "Shiite",
        "Yamashita",
        "Matsushita",
        "Fukushima",
        "Nigeria",
        "niggardly",
        "pussycat",
        "arsenal",
        "Sussex",
        "Middlesex",
        "Penistone",
        "Moby Dick",
        "cock-a-doodle-doo",
        "fuchsia",
        "Shih Tzu",
        "he was hit by a ball",
        "this hit song",
        "this.hit",
        "room 455",
        "Bc8",
    ],
)
def test_english_innocent_words_stay_clean(text: str) -> None:
    """Words that merely contain a flagged form are not flagged (Scunthorpe problem)."""
    result = moderate(text)
    assert result.clean
    assert result.text == text


@pytest.mark.parametrize(
    "text",
    [
        "시발점",
        "이 노선의 시발역",
        "시발택시",
        "시발자동차",
        "2016년은 병신년이다",
        "병신년에 일어난 일",
        "8등신 몸매",
        "등신대 포스터",
        "도시발전 계획",
        "무시발언",
        "다시팔아",
        "혹시 발 다쳤어?",
        "수박 씨 발라 먹어",
        "김 씨 발표 잘 들었어요",
        "지난 시 발표",
        "불이 꺼져 있어",
        "컴퓨터가 꺼져서 못 했어",
        "위기가 닥쳐왔다",
        "닥쳐올 시험",
        "영향을 미친 결과",
        "미친 듯이 공부했다",
        "강아지 새끼",
        "새끼손가락",
        "껌 씹어",
        "밥 잘 씹어 먹어",
        "시바견 귀여워",
        "시바 이누 봤어",
        "도시바 노트북",
        "전염병",
        "감염병 예방",
        "보지 마",
        "자지 마",
        "부모님 수발",
        "1시8분",
        "씨앗을 심었다",
        "종이컵 씨 발아 실험",
        "이 시 발음이 어려워",
        "역시 발이 빠르네",
        "개 세 마리",
    ],
)
def test_korean_innocent_words_stay_clean(text: str) -> None:
    """Korean words that contain a flagged syllable innocently (시발점, 병신년, ...) stay clean."""
    result = moderate(text)
    assert result.clean
    assert result.text == text


@pytest.mark.parametrize("text", ["", " ", "   ", "\n", "\t\r\n", "\u3000", "\u200b"])
def test_empty_and_whitespace_are_clean(text: str) -> None:
    """Empty and blank messages come back unchanged and clean."""
    assert moderate(text) == Moderation(text, ())


@pytest.mark.parametrize(
    "text",
    [
        "😀",
        "👍🏽 좋아요",
        "👨‍👩‍👧‍👦 family",
        "🇰🇷 대한민국",
        "你好 こんにちは 안녕하세요 hello",
        "Привет, как дела?",
        "Γειά σου",
        "ｈｅｌｌｏ ｗｏｒｌｄ",
        "ㅋㅋㅋㅋ ㅎㅎ ㅠㅠ",
        "½ ™ ㈜ ﬁ",
        "\ud800 lone surrogate",
    ],
)
def test_emoji_and_mixed_scripts_are_clean(text: str) -> None:
    """Emoji, other scripts and compatibility characters alone flag nothing."""
    assert moderate(text) == Moderation(text, ())


@pytest.mark.parametrize(
    "text",
    [
        "선생님 씨발 진짜 f.u.c.k",
        "ＦＵＣＫ 😀 ㅅㅂ",
        "sh1t and a$$hole",
        "씨 발 씨 발",
    ],
)
def test_masked_text_is_clean(text: str) -> None:
    """Moderating masked output again finds nothing: '*' never completes a word."""
    first = moderate(text)
    assert not first.clean
    assert moderate(first.text).clean


def test_moderation_is_frozen_and_clean_follows_hits() -> None:
    """Moderation is immutable, and clean is true exactly when there are no hits."""
    clean, dirty = moderate("hello"), moderate("fuck")
    assert clean.clean and clean.hits == ()
    assert not dirty.clean and dirty.hits == ("fuck",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        dirty.text = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "text",
    ["씨" * 4000, "ㅅ" * 4000, "s" * 4000, "f" * 2000 + "u" * 2000, "씨 " * 2000, "@$" * 2000],
)
def test_runs_of_one_letter_take_linear_time(text: str) -> None:
    """A long run of a letter that starts a word is not re-scanned from every position."""
    started = time.process_time()
    result = moderate(text)
    assert time.process_time() - started < 0.25  # quadratic scanning took seconds
    assert _masked_only_where_flagged(text, result)
