"""Exams end to end over REST: the three modes, the demo exams, what students never see."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from hub.context import HubContext
from hub.exams import adaptive
from hub.exams.irt import ItemBank, eap
from hub.seed import DEMO_PASSWORD, seed_demo
from tests.exam_support import answer, make_class, make_exam, make_items, school, start
from tests.support import Factory, FrozenClock, User, error_of


async def test_fixed_form_any_order_then_submit(api: httpx.AsyncClient, factory: Factory) -> None:
    """A fixed form shows every question, takes them in any order, scores on submit."""
    s = await school(factory)
    items = await make_items(api, s.teacher, s.org, 3)
    exam = await make_exam(api, s.teacher, s.org, items, "fixed")
    attempt = await start(api, s.students[0], exam)
    assert [q["item_id"] for q in attempt["questions"]] == [i["id"] for i in items]
    assert attempt["deadline_at"] is None and attempt["score"] is None
    for item, choice in ((items[2], 1), (items[0], 0)):
        response = await answer(api, s.students[0], attempt["id"], item["id"], choice)
        assert response.status_code == 201, response.text
    left = response.json()["attempt"]["questions"]
    assert [q["item_id"] for q in left] == [items[1]["id"]]
    done = await api.post(f"/exams/{exam['id']}/submit", headers=s.students[0].headers)
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["status"], body["score"], body["max_score"]) == ("submitted", 1, 3)
    assert body["finished_by"] == "student" and body["questions"] == []


async def test_cbt_in_order_with_server_deadline(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock
) -> None:
    """CBT: one question at a time, no going back or skipping, deadline = start + limit."""
    s = await school(factory)
    items = await make_items(api, s.teacher, s.org, 3)
    exam = await make_exam(api, s.teacher, s.org, items, "cbt", time_limit_s=600)
    attempt = await start(api, s.students[0], exam)
    assert [q["item_id"] for q in attempt["questions"]] == [items[0]["id"]]
    assert attempt["time_left_s"] == 600
    skip = await answer(api, s.students[0], attempt["id"], items[1]["id"], 1)
    assert skip.status_code == 409 and error_of(skip)["code"] == "out_of_order"
    first = await answer(api, s.students[0], attempt["id"], items[0]["id"], 1)
    assert first.status_code == 201
    assert [q["item_id"] for q in first.json()["attempt"]["questions"]] == [items[1]["id"]]
    back = await answer(api, s.students[0], attempt["id"], items[0]["id"], 2)
    assert back.status_code == 409 and error_of(back)["code"] == "already_answered"
    clock.advance(seconds=601)
    late = await answer(api, s.students[0], attempt["id"], items[1]["id"], 1)
    assert late.status_code == 409 and error_of(late)["code"] == "deadline_passed"
    stored = await factory.fetchval("SELECT count(*) FROM answers")
    assert stored == 1


async def test_cbt_last_answer_ends_attempt(api: httpx.AsyncClient, factory: Factory) -> None:
    """CBT cannot go back, so answering the last question submits the attempt."""
    s = await school(factory)
    items = await make_items(api, s.teacher, s.org, 2)
    exam = await make_exam(api, s.teacher, s.org, items, "cbt", time_limit_s=60)
    attempt = await start(api, s.students[0], exam)
    await answer(api, s.students[0], attempt["id"], items[0]["id"], 1)
    last = await answer(api, s.students[0], attempt["id"], items[1]["id"], 0)
    view = last.json()["attempt"]
    assert (view["status"], view["score"], view["max_score"]) == ("submitted", 1, 2)


async def test_cat_adapts_and_stops(api: httpx.AsyncClient, factory: Factory) -> None:
    """CAT serves the engine's pick, refuses other items, and stops by its SE rule."""
    s = await school(factory)
    params = [{"a": 2.0, "b": -2.0 + 0.2 * i, "c": 0.0} for i in range(21)]
    items = await make_items(api, s.teacher, s.org, 21, params=params)
    exam = await make_exam(
        api, s.teacher, s.org, items, "cat", cat={"se_stop": 0.5, "max_items": 8, "top_k": 1}
    )
    attempt = await start(api, s.students[0], exam)
    (first,) = attempt["questions"]
    assert "answer" not in first and "a" not in first and "b" not in first
    other = next(i for i in items if i["id"] != first["item_id"])
    wrong_item = await answer(api, s.students[0], attempt["id"], other["id"], 1)
    assert wrong_item.status_code == 409 and error_of(wrong_item)["code"] == "out_of_order"
    seen = []
    view = attempt
    while view["status"] == "active":
        (question,) = view["questions"]
        seen.append(question["item_id"])
        response = await answer(api, s.students[0], attempt["id"], question["item_id"], 1)
        assert response.status_code == 201, response.text
        view = response.json()["attempt"]
    assert len(seen) == len(set(seen)) <= 8
    assert view["finished_by"] in ("cat_stop",) and view["theta"] > 0.5
    assert view["se"] < 0.5 or len(seen) == 8
    rows = await factory.fetch("SELECT theta, se FROM answers ORDER BY position")
    assert all(r["theta"] is not None for r in rows)
    assert rows[-1]["se"] < rows[0]["se"]


async def test_demo_school_exams_can_be_sat(api: httpx.AsyncClient, hub_ctx: HubContext) -> None:
    """The demo seed's CBT and CAT exams work for the demo student out of the box."""
    assert await seed_demo(hub_ctx.db)
    login = await api.post(
        "/auth/login", json={"email": "student1@demo.dreamseed.kr", "password": DEMO_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    listed = (await api.get("/exams", headers=headers)).json()["items"]
    assert sorted(e["mode"] for e in listed) == ["cat", "cbt"]
    for exam in listed:
        started = await api.post(f"/exams/{exam['id']}/attempts", headers=headers)
        assert started.status_code == 201, started.text
        (question,) = started.json()["questions"]
        response = await api.post(
            f"/attempts/{started.json()['id']}/answers",
            json={"item_id": question["item_id"], "choice": 0},
            headers=headers,
        )
        assert response.status_code == 201, response.text


async def test_exam_list_shows_students_their_class_exams(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A class's exam is listed for its students and the teachers, not for other students."""
    s = await school(factory)
    class_id = await make_class(factory, s.org, [s.students[0]])
    items = await make_items(api, s.teacher, s.org, 1)
    school_wide = await make_exam(api, s.teacher, s.org, items, "fixed")
    for_class = await make_exam(api, s.teacher, s.org, items, "fixed", class_id=str(class_id))

    async def listed(user: User) -> set[str]:
        response = await api.get("/exams", headers=user.headers)
        return {e["id"] for e in response.json()["items"]}

    both = {school_wide["id"], for_class["id"]}
    assert await listed(s.teacher) == both
    assert await listed(s.students[0]) == both
    assert await listed(s.students[1]) == {school_wide["id"]}


async def test_cat_exposure_is_shared_across_attempts(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """With r_max 0.5 (and its one exposure of warm-up) the most informative first item goes to
    three of four starters, then is capped: exposure counts live in Redis, shared by every
    request and hub process."""
    s = await school(factory, students=4)
    params = [{"a": 1.0 + 0.1 * i, "b": 0.0, "c": 0.0} for i in range(6)]
    items = await make_items(api, s.teacher, s.org, 6, params=params)
    exam = await make_exam(
        api, s.teacher, s.org, items, "cat", cat={"top_k": 1, "r_max": 0.5, "max_items": 3}
    )
    firsts = [
        (await start(api, student, exam))["questions"][0]["item_id"] for student in s.students
    ]
    # count < r_max · (attempts + 1 / r_max): 1 < 2, 2 < 2.5, then 3 ≥ 3 is capped.
    assert firsts[:3] == [items[-1]["id"]] * 3 != [firsts[3]] * 3
    key = hub_ctx.keys.exam_exposure(exam["id"])
    counts: dict[bytes, bytes] = await hub_ctx.redis.hgetall(key)  # type: ignore[misc]
    assert int(counts[b"attempts"]) == 4
    assert sum(int(v) for k, v in counts.items() if k != b"attempts") == 4
    assert 0 < await hub_ctx.redis.ttl(key) <= adaptive.EXPOSURE_TTL_S


async def test_answer_review_waits_until_the_exam_closes(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock
) -> None:
    """A finished student sees the score at once, which answers were right only after closing;
    the teacher sees the review at once."""
    s = await school(factory)
    items = await make_items(api, s.teacher, s.org, 2)
    closes = clock.now + timedelta(hours=1)
    exam = await make_exam(api, s.teacher, s.org, items, "fixed", closes_at=closes.isoformat())
    attempt = await start(api, s.students[0], exam)
    await answer(api, s.students[0], attempt["id"], items[0]["id"], 1)
    await answer(api, s.students[0], attempt["id"], items[1]["id"], 0)
    await api.post(f"/exams/{exam['id']}/submit", headers=s.students[0].headers)

    async def review(user: User) -> dict[str, Any]:
        response = await api.get(
            f"/exams/{exam['id']}/results", params={"with_answers": "true"}, headers=user.headers
        )
        assert response.status_code == 200, response.text
        (mine,) = response.json()["attempts"]
        return dict(mine)

    early = await review(s.students[0])
    assert (early["score"], early["answers"]) == (1, None)
    assert [a["correct"] for a in (await review(s.teacher))["answers"]] == [True, False]
    clock.advance(hours=2)
    late = await review(s.students[0])
    assert [(a["item_id"], a["correct"]) for a in late["answers"]] == [
        (items[0]["id"], True),
        (items[1]["id"], False),
    ]


async def test_recalibration_mid_attempt_leaves_its_past_alone(
    api: httpx.AsyncClient, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New parameters reach a running CAT attempt's next answers only: earlier answers keep the
    parameters they were scored with, so the estimate does not jump."""
    monkeypatch.setattr(adaptive, "POOL_TTL_S", 0.0)  # every answer sees the newest parameters
    s = await school(factory)
    params = [{"a": 1.5, "b": -1.5 + 0.3 * i, "c": 0.0} for i in range(11)]
    items = await make_items(api, s.teacher, s.org, 11, params=params)
    exam = await make_exam(api, s.teacher, s.org, items, "cat", cat={"top_k": 1, "max_items": 6})
    view = await start(api, s.students[0], exam)
    for _ in range(3):
        response = await answer(api, s.students[0], view["id"], view["questions"][0]["item_id"], 1)
        view = response.json()["attempt"]
    for item in items:  # a recalibration makes every item much harder
        changed = await api.put(
            f"/items/{item['id']}", json={"params": {"a": 1.5, "b": 3.0}}, headers=s.teacher.headers
        )
        assert changed.status_code == 200, changed.text
    await answer(api, s.students[0], view["id"], view["questions"][0]["item_id"], 1)
    rows = await factory.fetch(
        "SELECT correct, a, b, c, theta FROM answers WHERE attempt_id = $1 ORDER BY position",
        UUID(view["id"]),
    )
    assert [r["b"] == 3.0 for r in rows] == [False, False, False, True]
    stored = ItemBank.from_params(
        [r["a"] for r in rows], [r["b"] for r in rows], [r["c"] for r in rows]
    )
    expected, _ = eap(stored, range(4), [r["correct"] for r in rows])
    assert rows[-1]["theta"] == pytest.approx(expected, abs=1e-9)


async def test_another_class_exam_is_not_found_for_a_student(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A student outside an exam's class gets 404 for it, as it is missing from their list."""
    s = await school(factory)
    class_id = await make_class(factory, s.org, [])
    items = await make_items(api, s.teacher, s.org, 1)
    exam = await make_exam(api, s.teacher, s.org, items, "fixed", class_id=str(class_id))
    outsider = await api.get(f"/exams/{exam['id']}", headers=s.students[0].headers)
    assert outsider.status_code == 404 and error_of(outsider)["code"] == "not_found"
    assert (await api.get(f"/exams/{exam['id']}", headers=s.teacher.headers)).status_code == 200


async def test_teacher_edits_the_window_and_releases_the_review(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A teacher renames an exam, allows another attempt and releases the answer review early;
    a student may do none of it, and a window that closes before it opens is refused."""
    s = await school(factory)
    items = await make_items(api, s.teacher, s.org, 2)
    exam = await make_exam(api, s.teacher, s.org, items, "fixed")
    attempt = await start(api, s.students[0], exam)
    await answer(api, s.students[0], attempt["id"], items[0]["id"], 1)
    await api.post(f"/exams/{exam['id']}/submit", headers=s.students[0].headers)
    url, student = f"/exams/{exam['id']}", s.students[0]
    refused = await api.patch(url, json={"review_released": True}, headers=student.headers)
    assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden"
    backwards = {"opens_at": "2027-01-02T09:00:00Z", "closes_at": "2027-01-01T09:00:00Z"}
    bad = await api.patch(url, json=backwards, headers=s.teacher.headers)
    assert bad.status_code == 422 and error_of(bad)["field"] == "closes_at"
    review = await api.get(
        f"{url}/results", params={"with_answers": "true"}, headers=student.headers
    )
    assert review.json()["attempts"][0]["answers"] is None

    changed = await api.patch(
        url,
        json={"title": "중간고사 (재시험)", "max_attempts": 2, "review_released": True},
        headers=s.teacher.headers,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["title"], body["max_attempts"], body["review_released"]) == (
        "중간고사 (재시험)",
        2,
        True,
    )
    review = await api.get(
        f"{url}/results", params={"with_answers": "true"}, headers=student.headers
    )
    assert [a["correct"] for a in review.json()["attempts"][0]["answers"]] == [True]
    again = await api.post(f"{url}/attempts", headers=student.headers)
    assert again.status_code == 201 and again.json()["number"] == 2


async def test_only_an_exam_nobody_sat_can_be_deleted(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Deleting a fresh exam works; one with attempts stays with its results (409)."""
    s = await school(factory)
    items = await make_items(api, s.teacher, s.org, 1)
    fresh = await make_exam(api, s.teacher, s.org, items, "fixed")
    sat = await make_exam(api, s.teacher, s.org, items, "fixed")
    await start(api, s.students[0], sat)
    refused = await api.delete(f"/exams/{fresh['id']}", headers=s.students[0].headers)
    assert refused.status_code == 403
    assert (await api.delete(f"/exams/{fresh['id']}", headers=s.teacher.headers)).status_code == 204
    assert (await api.get(f"/exams/{fresh['id']}", headers=s.teacher.headers)).status_code == 404
    kept = await api.delete(f"/exams/{sat['id']}", headers=s.teacher.headers)
    assert kept.status_code == 409 and error_of(kept)["code"] == "conflict"


async def test_review_waits_while_anyone_may_still_answer(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock
) -> None:
    """Closing the window early (or releasing the review) does not show a finished student the
    key while a classmate's attempt can still be answered; it does once nobody can."""
    s = await school(factory)
    items = await make_items(api, s.teacher, s.org, 2)
    exam = await make_exam(api, s.teacher, s.org, items, "fixed", time_limit_s=3600)
    sitting = await start(api, s.students[1], exam)  # deadline in an hour
    done = await start(api, s.students[0], exam)
    await answer(api, s.students[0], done["id"], items[0]["id"], 1)
    await api.post(f"/exams/{exam['id']}/submit", headers=s.students[0].headers)
    early = {"closes_at": (clock.now + timedelta(minutes=1)).isoformat(), "review_released": True}
    moved = await api.patch(f"/exams/{exam['id']}", json=early, headers=s.teacher.headers)
    assert moved.status_code == 200, moved.text
    clock.advance(minutes=2)  # past the new closing time; the classmate's deadline is not

    async def review() -> Any:
        response = await api.get(
            f"/exams/{exam['id']}/results",
            params={"with_answers": "true"},
            headers=s.students[0].headers,
        )
        return response.json()["attempts"][0]["answers"]

    assert await review() is None
    still = await answer(api, s.students[1], sitting["id"], items[0]["id"], 1)
    assert still.status_code == 201, still.text
    await api.post(f"/exams/{exam['id']}/submit", headers=s.students[1].headers)
    assert [a["correct"] for a in await review()] == [True]
