"""Every refusal of exams over REST: its status, its code, that it changed nothing, and that the
hub counted it in dreamseed_errors_total; and that no student-facing reply carries a key."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.exam_support import School, answer, make_class, make_exam, make_items, school, start
from tests.support import Factory, FrozenClock, error_of

SECRET_KEYS = frozenset({"answer", "a", "b", "c"})


async def rest_errors(base_url: str) -> Counter[str]:
    """dreamseed_errors_total{transport="rest"} by code, read from the hub's /metrics."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        text = (await client.get("/metrics")).text
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "dreamseed_errors_total" and sample.labels["transport"] == "rest":
                counts[sample.labels["code"]] += int(sample.value)
    return counts


@dataclass
class Refusals:
    """Checks each refusal and remembers it, to find every one counted in the metrics."""

    base_url: str
    before: Counter[str]
    seen: Counter[str] = field(default_factory=Counter)

    def check(self, response: httpx.Response, status: int, code: str) -> dict[str, Any]:
        assert response.status_code == status, response.text
        error = error_of(response)
        assert error["code"] == code, error
        self.seen[code] += 1
        return error

    async def all_counted(self) -> None:
        after = await rest_errors(self.base_url)
        assert self.seen
        for code, count in self.seen.items():
            assert after[code] - self.before[code] == count, code


@pytest.fixture
async def refused(hub_server: tuple[str, Any], api: httpx.AsyncClient) -> Refusals:
    return Refusals(hub_server[0], await rest_errors(hub_server[0]))


def keys_in(value: Any) -> Iterator[str]:
    """Every key of every object nested in a JSON value."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from keys_in(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from keys_in(inner)


async def attempt_row(factory: Factory, attempt_id: str) -> dict[str, Any]:
    rows = await factory.fetch("SELECT * FROM attempts WHERE id = $1::uuid", attempt_id)
    return dict(rows[0])


async def fixed_exam(
    api: httpx.AsyncClient, factory: Factory, count: int = 2, **extra: Any
) -> tuple[School, list[dict[str, Any]], dict[str, Any]]:
    s = await school(factory)
    items = await make_items(api, s.teacher, s.org, count)
    return s, items, await make_exam(api, s.teacher, s.org, items, "fixed", **extra)


async def submit(
    api: httpx.AsyncClient, headers: dict[str, str], exam: dict[str, Any]
) -> httpx.Response:
    return await api.post(f"/exams/{exam['id']}/submit", headers=headers)


async def test_answering_someone_elses_attempt(
    api: httpx.AsyncClient, factory: Factory, refused: Refusals
) -> None:
    """A schoolmate cannot see the attempt (404); the teacher may see it but not answer (403)."""
    s, items, exam = await fixed_exam(api, factory)
    attempt = await start(api, s.students[0], exam)
    before, row = await factory.snapshot(), await attempt_row(factory, attempt["id"])
    other = await answer(api, s.students[1], attempt["id"], items[0]["id"], 1)
    refused.check(other, 404, "not_found")
    teacher = await answer(api, s.teacher, attempt["id"], items[0]["id"], 1)
    refused.check(teacher, 403, "forbidden")
    peek = await api.get(f"/attempts/{attempt['id']}", headers=s.students[1].headers)
    refused.check(peek, 404, "not_found")
    assert await factory.snapshot() == before
    assert await attempt_row(factory, attempt["id"]) == row
    await refused.all_counted()


async def test_answering_twice_keeps_the_first_answer(
    api: httpx.AsyncClient, factory: Factory, refused: Refusals
) -> None:
    """A second answer to the same question is refused and the first choice and score stand."""
    s, items, exam = await fixed_exam(api, factory)
    attempt = await start(api, s.students[0], exam)
    first = await answer(api, s.students[0], attempt["id"], items[0]["id"], 1)
    assert first.status_code == 201, first.text
    before, row = await factory.snapshot(), await attempt_row(factory, attempt["id"])
    again = await answer(api, s.students[0], attempt["id"], items[0]["id"], 2)
    refused.check(again, 409, "already_answered")
    assert await factory.snapshot() == before
    assert await attempt_row(factory, attempt["id"]) == row
    assert await factory.fetchval("SELECT choice FROM answers") == 1
    await refused.all_counted()


async def test_answering_at_the_deadline(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock, refused: Refusals
) -> None:
    """A CBT answer a millisecond before the deadline counts; one at the deadline is refused."""
    s = await school(factory)
    items = await make_items(api, s.teacher, s.org, 3)
    exam = await make_exam(api, s.teacher, s.org, items, "cbt", time_limit_s=60)
    attempt = await start(api, s.students[0], exam)
    clock.advance(seconds=59.999)
    just_in = await answer(api, s.students[0], attempt["id"], items[0]["id"], 1)
    assert just_in.status_code == 201, just_in.text
    clock.advance(seconds=0.001)
    before, row = await factory.snapshot(), await attempt_row(factory, attempt["id"])
    late = await answer(api, s.students[0], attempt["id"], items[1]["id"], 1)
    error = refused.check(late, 409, "deadline_passed")
    assert error["deadline_at"] is not None
    assert await factory.snapshot() == before
    assert await attempt_row(factory, attempt["id"]) == row
    await refused.all_counted()


async def test_answering_after_submission(
    api: httpx.AsyncClient, factory: Factory, refused: Refusals
) -> None:
    """Once submitted, an attempt takes no more answers."""
    s, items, exam = await fixed_exam(api, factory)
    attempt = await start(api, s.students[0], exam)
    assert (await submit(api, s.students[0].headers, exam)).status_code == 200
    before, row = await factory.snapshot(), await attempt_row(factory, attempt["id"])
    late = await answer(api, s.students[0], attempt["id"], items[0]["id"], 1)
    refused.check(late, 409, "attempt_finished")
    assert await factory.snapshot() == before
    assert await attempt_row(factory, attempt["id"]) == row
    await refused.all_counted()


async def test_submitting_twice(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock, refused: Refusals
) -> None:
    """A second submit is refused and leaves the first one's time and score as they were."""
    s, items, exam = await fixed_exam(api, factory)
    attempt = await start(api, s.students[0], exam)
    await answer(api, s.students[0], attempt["id"], items[0]["id"], 1)
    assert (await submit(api, s.students[0].headers, exam)).status_code == 200
    before, row = await factory.snapshot(), await attempt_row(factory, attempt["id"])
    clock.advance(seconds=30)
    again = await api.post(
        f"/exams/{exam['id']}/submit",
        params={"attempt_id": attempt["id"]},
        headers=s.students[0].headers,
    )
    refused.check(again, 409, "attempt_finished")
    refused.check(await submit(api, s.students[0].headers, exam), 409, "attempt_finished")
    assert await factory.snapshot() == before
    assert await attempt_row(factory, attempt["id"]) == row
    await refused.all_counted()


async def test_second_attempt_refused(
    api: httpx.AsyncClient, factory: Factory, refused: Refusals
) -> None:
    """With max_attempts=1: a start while one is active conflicts; after submitting none is left."""
    s, _, exam = await fixed_exam(api, factory)
    attempt = await start(api, s.students[0], exam)
    before = await factory.snapshot()
    error = refused.check(
        await api.post(f"/exams/{exam['id']}/attempts", headers=s.students[0].headers),
        409,
        "conflict",
    )
    assert error["attempt_id"] == attempt["id"]
    assert await factory.snapshot() == before
    assert (await submit(api, s.students[0].headers, exam)).status_code == 200
    before = await factory.snapshot()
    refused.check(
        await api.post(f"/exams/{exam['id']}/attempts", headers=s.students[0].headers),
        409,
        "no_attempts_left",
    )
    assert await factory.snapshot() == before
    assert await factory.fetchval("SELECT count(*) FROM attempts") == 1
    await refused.all_counted()


async def test_concurrent_starts_make_one_attempt(
    api: httpx.AsyncClient, factory: Factory, refused: Refusals
) -> None:
    """Two starts at once by one student (attempts to spare) give one attempt and one conflict."""
    s, _, exam = await fixed_exam(api, factory, max_attempts=5)
    url = f"/exams/{exam['id']}/attempts"
    responses = await asyncio.gather(
        *(api.post(url, headers=s.students[0].headers) for _ in range(2))
    )
    assert sorted(r.status_code for r in responses) == [201, 409]
    (loser,) = [r for r in responses if r.status_code == 409]
    refused.check(loser, 409, "conflict")
    rows = await factory.fetch("SELECT number, status::text FROM attempts")
    assert [(r["number"], r["status"]) for r in rows] == [(1, "active")]
    await refused.all_counted()


async def test_concurrent_answers_to_one_question_store_one(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Three copies of one answer at once (a client retrying fast), in CBT and CAT: one is
    stored, the others are told it was already answered, never 'out of order'."""
    s = await school(factory)
    items = await make_items(api, s.teacher, s.org, 4)
    for mode, extra in (("cbt", {"time_limit_s": 600}), ("cat", {"cat": {"max_items": 3}})):
        exam = await make_exam(api, s.teacher, s.org, items, mode, **extra)
        attempt = await start(api, s.students[0], exam)
        item_id = attempt["questions"][0]["item_id"]
        responses = await asyncio.gather(
            *(answer(api, s.students[0], attempt["id"], item_id, 1) for _ in range(3))
        )
        codes = sorted("stored" if r.status_code == 201 else error_of(r)["code"] for r in responses)
        assert codes == ["already_answered", "already_answered", "stored"], mode
        rows = await factory.fetch(
            "SELECT count(*) AS n FROM answers WHERE attempt_id = $1::uuid", attempt["id"]
        )
        assert rows[0]["n"] == 1


async def test_teacher_of_another_organization(
    api: httpx.AsyncClient, factory: Factory, refused: Refusals
) -> None:
    """Another school's teacher sees none of this school's exams, items or results."""
    s, items, exam = await fixed_exam(api, factory)
    await start(api, s.students[0], exam)
    other_org = await factory.org()
    stranger = await factory.user("teacher", other_org)
    own = await make_items(api, stranger, other_org, 1)
    before = await factory.snapshot()
    h = stranger.headers
    for url in (
        f"/exams/{exam['id']}",
        f"/exams/{exam['id']}/results",
        f"/items/{items[0]['id']}",
        f"/items/{items[0]['id']}/parameters",
    ):
        refused.check(await api.get(url, headers=h), 404, "not_found")
    refused.check(await api.post(f"/exams/{exam['id']}/attempts", headers=h), 404, "not_found")
    change = {"stem": "Rewritten"}
    refused.check(
        await api.put(f"/items/{items[0]['id']}", json=change, headers=h), 404, "not_found"
    )
    refused.check(await api.delete(f"/items/{items[0]['id']}", headers=h), 404, "not_found")
    listing = await api.get("/items", params={"org_id": str(s.org.id)}, headers=h)
    refused.check(listing, 403, "forbidden")
    borrowed = {
        "org_id": str(other_org.id),
        "title": "Borrowed",
        "mode": "fixed",
        "item_ids": [items[0]["id"], own[0]["id"]],
    }
    error = refused.check(
        await api.post("/exams", json=borrowed, headers=h), 422, "validation_error"
    )
    assert error["field"] == "item_ids" and error["missing"] == [items[0]["id"]]
    into_theirs = {**borrowed, "org_id": str(s.org.id), "item_ids": [items[0]["id"]]}
    refused.check(await api.post("/exams", json=into_theirs, headers=h), 403, "forbidden")
    assert await factory.snapshot() == before
    mine = await api.get("/exams", headers=h)
    assert mine.status_code == 200 and mine.json()["items"] == []
    await refused.all_counted()


async def test_students_do_not_write_or_read_the_bank(
    api: httpx.AsyncClient, factory: Factory, refused: Refusals
) -> None:
    """A student may not write items or exams, nor read an item (its key is secret)."""
    s, items, _ = await fixed_exam(api, factory)
    student = s.students[0]
    before = await factory.snapshot()
    item = {"org_id": str(s.org.id), "stem": "Mine", "choices": ["x", "y"], "answer": 0}
    refused.check(await api.post("/items", json=item, headers=student.headers), 403, "forbidden")
    exam = {
        "org_id": str(s.org.id),
        "title": "Mine",
        "mode": "fixed",
        "item_ids": [items[0]["id"]],
    }
    refused.check(await api.post("/exams", json=exam, headers=student.headers), 403, "forbidden")
    for url in (f"/items/{items[0]['id']}", f"/items/{items[0]['id']}/parameters"):
        refused.check(await api.get(url, headers=student.headers), 403, "forbidden")
    listing = await api.get("/items", params={"org_id": str(s.org.id)}, headers=student.headers)
    refused.check(listing, 403, "forbidden")
    edit = await api.put(f"/items/{items[0]['id']}", json={"stem": "x"}, headers=student.headers)
    refused.check(edit, 403, "forbidden")
    assert await factory.snapshot() == before
    await refused.all_counted()


async def test_student_outside_the_class(
    api: httpx.AsyncClient, factory: Factory, refused: Refusals
) -> None:
    """An exam for one class refuses a student of the school who is not in it."""
    s = await school(factory)
    class_id = await make_class(factory, s.org, [s.students[0]])
    items = await make_items(api, s.teacher, s.org, 2)
    exam = await make_exam(api, s.teacher, s.org, items, "fixed", class_id=str(class_id))
    before = await factory.snapshot()
    outsider = await api.post(f"/exams/{exam['id']}/attempts", headers=s.students[1].headers)
    refused.check(outsider, 403, "forbidden")
    assert await factory.snapshot() == before
    await start(api, s.students[0], exam)
    await refused.all_counted()


async def test_exam_window(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock, refused: Refusals
) -> None:
    """No start before opens_at or from closes_at; an attempt's deadline is the closing time."""
    s = await school(factory)
    items = await make_items(api, s.teacher, s.org, 2)
    opens, closes = clock.now + timedelta(hours=1), clock.now + timedelta(hours=2)
    exam = await make_exam(
        api,
        s.teacher,
        s.org,
        items,
        "fixed",
        opens_at=opens.isoformat(),
        closes_at=closes.isoformat(),
    )
    url = f"/exams/{exam['id']}/attempts"
    before = await factory.snapshot()
    early = await api.post(url, headers=s.students[0].headers)
    assert refused.check(early, 409, "exam_closed")["opens_at"] is not None
    assert await factory.snapshot() == before
    clock.advance(hours=1)
    attempt = await start(api, s.students[0], exam)
    assert attempt["time_left_s"] == 3600
    clock.advance(hours=1)
    before, row = await factory.snapshot(), await attempt_row(factory, attempt["id"])
    refused.check(await api.post(url, headers=s.students[1].headers), 409, "exam_closed")
    late = await answer(api, s.students[0], attempt["id"], items[0]["id"], 1)
    refused.check(late, 409, "deadline_passed")
    assert await factory.snapshot() == before
    assert await attempt_row(factory, attempt["id"]) == row
    await refused.all_counted()


def failing_fields(error: dict[str, Any]) -> set[str]:
    return {f["field"] for f in error["fields"]}


async def test_invalid_bodies_name_their_fields(
    api: httpx.AsyncClient, factory: Factory, refused: Refusals
) -> None:
    """Malformed items, exams and answers get 422 naming each failing field, and change nothing."""
    s = await school(factory)
    three = {"org_id": str(s.org.id), "stem": "Pick", "choices": ["x", "y", "z"], "answer": 2}
    created = await api.post("/items", json=three, headers=s.teacher.headers)
    assert created.status_code == 201, created.text
    item = created.json()
    exam = await make_exam(api, s.teacher, s.org, [item], "fixed")
    attempt = await start(api, s.students[0], exam)
    before = await factory.snapshot()
    h = s.teacher.headers

    bad_key = await api.post("/items", json={**three, "answer": 3}, headers=h)
    assert failing_fields(refused.check(bad_key, 422, "validation_error")) == {"answer"}
    unknown = await api.post("/items", json={**three, "key": 2, "difficulty": 1}, headers=h)
    assert failing_fields(refused.check(unknown, 422, "validation_error")) == {"key", "difficulty"}
    untimed = {"org_id": str(s.org.id), "title": "CBT", "mode": "cbt", "item_ids": [item["id"]]}
    error = refused.check(
        await api.post("/exams", json=untimed, headers=h), 422, "validation_error"
    )
    assert failing_fields(error) == {"time_limit_s"}
    fixed = {**untimed, "mode": "fixed"}
    naive = {**fixed, "opens_at": "2026-12-01T09:00:00", "closes_at": "2026-12-01T10:00:00Z"}
    error = refused.check(await api.post("/exams", json=naive, headers=h), 422, "validation_error")
    assert failing_fields(error) == {"opens_at"}
    zero = {**fixed, "mode": "cat", "cat": {"content_balance": {"x": 0}}}
    error = refused.check(await api.post("/exams", json=zero, headers=h), 422, "validation_error")
    assert failing_fields(error) == {"cat.content_balance.x"}
    fewer = await api.put(f"/items/{item['id']}", json={"choices": ["x", "y"]}, headers=h)
    assert refused.check(fewer, 422, "validation_error")["field"] == "choices"

    out_of_range = await answer(api, s.students[0], attempt["id"], item["id"], 3)
    assert refused.check(out_of_range, 422, "validation_error")["field"] == "choice"
    extra = await api.post(
        f"/attempts/{attempt['id']}/answers",
        json={"item_id": item["id"], "choice": 0, "correct": True},
        headers=s.students[0].headers,
    )
    assert failing_fields(refused.check(extra, 422, "validation_error")) == {"correct"}
    assert await factory.snapshot() == before
    assert (await api.get(f"/items/{item['id']}", headers=h)).json()["choices"] == ["x", "y", "z"]
    await refused.all_counted()


async def test_students_never_receive_keys_or_parameters(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """No reply to a student (start, attempt, answer, exam, submit, results) has a key or a/b/c."""
    s = await school(factory)
    params = [{"a": 1.5, "b": 0.5, "c": 0.2}] * 3
    items = await make_items(api, s.teacher, s.org, 3, params=params, areas=["x", "y", "z"])
    student = s.students[0]
    h = student.headers
    replies: list[Any] = []
    for mode, extra in (("fixed", {}), ("cbt", {"time_limit_s": 600}), ("cat", {})):
        exam = await make_exam(api, s.teacher, s.org, items, mode, **extra)
        attempt = await start(api, student, exam)
        question = attempt["questions"][0]
        ack = await answer(api, student, attempt["id"], question["item_id"], 1)
        assert ack.status_code == 201, ack.text
        replies += [attempt, ack.json()]
        for url in (
            f"/attempts/{attempt['id']}",
            f"/exams/{exam['id']}",
            f"/exams/{exam['id']}/attempts/current",
            "/exams",
        ):
            response = await api.get(url, headers=h)
            assert response.status_code == 200, response.text
            replies.append(response.json())
        during = await api.get(
            f"/exams/{exam['id']}/results", params={"with_answers": "true"}, headers=h
        )
        replies.append(during.json())
        if ack.json()["attempt"]["status"] == "active":
            (mine,) = during.json()["attempts"]
            assert mine["answers"] is None and mine["score"] == 0
            done = await submit(api, h, exam)
            assert done.status_code == 200, done.text
            replies.append(done.json())
        after = await api.get(
            f"/exams/{exam['id']}/results", params={"with_answers": "true"}, headers=h
        )
        (mine,) = after.json()["attempts"]
        # Which answers were right is the key in another form: not before the exam closes.
        assert mine["answers"] is None and mine["status"] == "submitted"
        replies.append(after.json())
    leaked = SECRET_KEYS & set(keys_in(replies))
    assert leaked == set()
    # The same walk finds them in what a teacher gets: the check can fail.
    staff = await api.get(f"/items/{items[0]['id']}", headers=s.teacher.headers)
    assert set(keys_in(staff.json())) >= SECRET_KEYS
