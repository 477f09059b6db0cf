"""Message search: the Korean/English tokeniser, the tsquery it builds, and GET /search."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest

from hub.chat.search import query, tokens
from tests.support import Classroom, Factory, User, classroom, create_room, error_of, send

KOREAN = "내일 고등학교에서 시험 범위가 바뀌었습니다"
ENGLISH = "Tomorrow's homework is chapter 5"


# --- tokens and queries (pure) -------------------------------------------------------------


def test_hangul_runs_become_overlapping_bigrams() -> None:
    """Each Hangul word is indexed as its syllable bigrams, so inner words are found."""
    assert tokens("고등학교에서") == ["고등", "등학", "학교", "교에", "에서"]
    assert tokens("내일 시험") == ["내일", "시험"]


def test_single_syllables_and_repeats() -> None:
    """A one-syllable word is its own token; a repeated token is indexed once."""
    assert tokens("집 학교 학교") == ["집", "학교"]


def test_english_words_are_lower_cased_whole_words() -> None:
    """Latin words are lower-cased whole words; punctuation splits them."""
    assert tokens(ENGLISH) == ["tomorrow", "s", "homework", "is", "chapter", "5"]
    assert tokens("HOMEWORK, homework!") == ["homework"]


def test_text_is_nfkc_normalised() -> None:
    """Full-width letters and digits index the same as their plain forms."""
    assert tokens("ＨＯＭＥＷＯＲＫ　５") == ["homework", "5"]
    assert tokens("ｈｏｍｅ") == tokens("home")


def test_hangul_glued_to_latin_is_still_split() -> None:
    """'SAT시험' indexes both the Latin word and the Hangul bigram, whichever comes first."""
    assert tokens("SAT시험") == ["sat", "시험"]
    assert tokens("시험SAT") == ["시험", "sat"]
    assert tokens("5월") == ["5", "월"]


def test_text_without_words_has_no_tokens() -> None:
    """Punctuation and emoji alone give nothing to index."""
    assert tokens("?! ... 🙂") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("학교", "'학교'"),
        ("시험 범위", "'시험' & '범위'"),
        ("고등학교", "'고등' & '등학' & '학교'"),
        ("학", "'학':*"),
        ("home", "'home':*"),
        ("HOMEWORK chapter", "'homework' & 'chapter':*"),
        ("Tomorrow's", "'tomorrow' & 's':*"),
        ("ＨＯＭＥ", "'home':*"),
        ("시험 home", "'시험' & 'home':*"),
    ],
)
def test_query_requires_every_token(text: str, expected: str) -> None:
    """A query ANDs every token; the last Latin word and a lone syllable match as prefixes."""
    assert query(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "?!", "'", "🙂 ..."])
def test_query_without_words_is_none(text: str) -> None:
    """Nothing searchable gives no query (the caller refuses it)."""
    assert query(text) is None


def test_query_cannot_smuggle_tsquery_syntax() -> None:
    """Operators and quotes in the text never reach the tsquery as syntax."""
    built = query("a' | !b & (c):*")
    assert built == "'a' & 'b' & 'c':*"


# --- GET /search ---------------------------------------------------------------------------


async def search(api: httpx.AsyncClient, user: User, q: str, **params: Any) -> list[dict[str, Any]]:
    response = await api.get("/search", params={"q": q, **params}, headers=user.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def contents(items: list[dict[str, Any]]) -> list[str]:
    return [i["message"]["content"] for i in items]


async def filled_classroom(api: httpx.AsyncClient, factory: Factory) -> Classroom:
    room = await classroom(api, factory)
    await send(api, room.teacher, room.id, KOREAN)
    await send(api, room.teacher, room.id, ENGLISH)
    await send(api, room.teacher, room.id, "점심 메뉴는 비빔밥입니다")
    return room


@pytest.mark.parametrize("q", ["학교", "고등학교", "시험 범위", "범위 시험", "바뀌었"])
async def test_korean_is_found_by_words_inside_words(
    api: httpx.AsyncClient, factory: Factory, q: str
) -> None:
    """The Korean announcement is found by a word inside a longer word and by several words."""
    room = await filled_classroom(api, factory)
    items = await search(api, room.students[0], q)
    assert contents(items) == [KOREAN]
    assert items[0]["conversation_title"] == room.room["title"]
    assert items[0]["message"]["conversation_id"] == room.id


async def test_hangul_glued_to_latin_is_found(api: httpx.AsyncClient, factory: Factory) -> None:
    """'SAT시험' and '5월' are found by their Korean part and by their Latin part."""
    room = await classroom(api, factory)
    await send(api, room.teacher, room.id, "SAT시험 접수는 5월까지")
    for q in ("시험", "sat", "5월", "접수"):
        assert contents(await search(api, room.students[0], q)) == ["SAT시험 접수는 5월까지"], q


@pytest.mark.parametrize("q", ["homework", "home", "HOMEWORK", "chapter 5", "tomorrow"])
async def test_english_is_found_by_words_and_prefixes(
    api: httpx.AsyncClient, factory: Factory, q: str
) -> None:
    """English is found by a whole word in any case, by a prefix of the last word, by two."""
    room = await filled_classroom(api, factory)
    assert contents(await search(api, room.students[0], q)) == [ENGLISH]


@pytest.mark.parametrize("q", ["학원", "시험 학원", "homeworks", "chapter 6", "학교 homework"])
async def test_every_word_must_match(api: httpx.AsyncClient, factory: Factory, q: str) -> None:
    """A word that appears in no message (even beside one that does) finds nothing."""
    room = await filled_classroom(api, factory)
    assert await search(api, room.students[0], q) == []


async def test_results_come_only_from_my_conversations(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Identical text in another school, or in a room of my school I am not in, is not found."""
    room = await filled_classroom(api, factory)
    other_org = await factory.org()
    other_teacher = await factory.user("teacher", other_org)
    other_room = await create_room(api, other_teacher, other_org, [], title="Elsewhere")
    await send(api, other_teacher, other_room["id"], KOREAN)
    staff_room = await create_room(api, room.teacher, room.org, [], title="Staff only")
    await send(api, room.teacher, staff_room["id"], KOREAN)
    mine = await search(api, room.students[0], "학교")
    assert [i["message"]["conversation_id"] for i in mine] == [room.id]
    theirs = await search(api, other_teacher, "학교")
    assert [i["message"]["conversation_id"] for i in theirs] == [other_room["id"]]
    teachers = await search(api, room.teacher, "학교")
    assert {i["message"]["conversation_id"] for i in teachers} == {room.id, staff_room["id"]}


async def test_left_conversations_are_not_searched(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """After leaving a conversation its messages no longer turn up in my search."""
    room = await filled_classroom(api, factory)
    student = room.students[0]
    assert len(await search(api, student, "homework")) == 1
    left = await api.delete(f"/conversations/{room.id}", headers=student.headers)
    assert left.status_code == 204
    assert await search(api, student, "homework") == []


async def test_deleted_and_edited_messages(api: httpx.AsyncClient, factory: Factory) -> None:
    """A deleted message is not found; an edited one is found by its new words, not its old."""
    room = await classroom(api, factory)
    gone = await send(api, room.teacher, room.id, "homework is cancelled")
    kept = await send(api, room.teacher, room.id, "homework due Monday")
    deleted = await api.delete(f"/messages/{gone['id']}", headers=room.teacher.headers)
    assert deleted.status_code == 204
    reader = room.students[0]
    assert contents(await search(api, reader, "homework")) == ["homework due Monday"]
    assert await search(api, reader, "cancelled") == []
    edited = await api.put(
        f"/messages/{kept['id']}",
        json={"content": "숙제는 화요일까지"},
        headers=room.teacher.headers,
    )
    assert edited.status_code == 200, edited.text
    assert await search(api, reader, "Monday") == []
    assert contents(await search(api, reader, "화요일")) == ["숙제는 화요일까지"]


async def test_newest_first_limit_and_conversation_filter(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Hits come newest first; limit caps them; conversation_id keeps one conversation."""
    room = await classroom(api, factory)
    other = await create_room(api, room.teacher, room.org, room.students, title="Science")
    for n in range(3):
        await send(api, room.teacher, room.id, f"quiz {n}")
    await send(api, room.teacher, other["id"], "quiz science")
    reader = room.students[1]
    assert contents(await search(api, reader, "quiz")) == [
        "quiz science",
        "quiz 2",
        "quiz 1",
        "quiz 0",
    ]
    assert contents(await search(api, reader, "quiz", limit=2)) == ["quiz science", "quiz 2"]
    only = await search(api, reader, "quiz", conversation_id=room.id)
    assert contents(only) == ["quiz 2", "quiz 1", "quiz 0"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": ""}, "q"),
        ({"q": "?!"}, "q"),
        ({"q": "x" * 201}, "q"),
        ({}, "q"),
        ({"q": "a", "limit": 51}, "limit"),
        ({"q": "a", "conversation_id": "x"}, "conversation_id"),
    ],
)
async def test_bad_search_queries_are_refused(
    api: httpx.AsyncClient, factory: Factory, params: dict[str, Any], field: str
) -> None:
    """Empty, wordless, too long or malformed searches are a 422 naming the field."""
    user = await factory.user("student", await factory.org())
    response = await api.get("/search", params=params, headers=user.headers)
    assert response.status_code == 422, response.text
    assert error_of(response)["code"] == "validation_error"
    assert field in error_of(response)["message"]


async def test_search_uses_the_gin_index(
    api: httpx.AsyncClient, factory: Factory, database_url: str
) -> None:
    """With sequential scans off, the planner answers a token query from messages_search
    (on each month's partition, its copy: messages_pYYYY_MM_search_tokens_idx)."""
    await filled_classroom(api, factory)
    built = query("학교")
    assert built is not None
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SET enable_seqscan = off")
        literal = "'" + built.replace("'", "''") + "'"
        plan = await conn.fetchval(
            "EXPLAIN (FORMAT JSON) SELECT id FROM messages "
            f"WHERE search_tokens @@ {literal}::tsquery"
        )
        hits = await conn.fetchval(
            f"SELECT count(*) FROM messages WHERE search_tokens @@ {literal}::tsquery"
        )
    finally:
        await conn.close()
    indexes = _index_names(json.loads(plan) if isinstance(plan, str) else plan)
    assert indexes and all(i.endswith("_search_tokens_idx") for i in indexes), plan
    assert hits == 1


def _index_names(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        if "Index Name" in node:
            found.add(node["Index Name"])
        for value in node.values():
            found |= _index_names(value)
    elif isinstance(node, list):
        for value in node:
            found |= _index_names(value)
    return found
