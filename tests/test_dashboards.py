"""Dashboards over REST: a teacher's exam statistics checked by hand, a student's own results
and θ history, a parent's linked child only, and who may see what."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import httpx

from hub.clock import utc_now
from tests.exam_support import School, answer, make_exam, make_items, school, start
from tests.support import Factory, FrozenClock, User, error_of

# Keys of the answer key and the IRT parameters: never in a student's or parent's reply.
_SECRET_KEYS = {"answer", "a", "b", "c", "param_version", "drift_flagged", "point_biserial"}


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


async def _sit(
    api: httpx.AsyncClient, student: User, exam: dict[str, Any], choices: list[int], submit: bool
) -> None:
    attempt = await start(api, student, exam)
    for question, choice in zip(attempt["questions"], choices, strict=False):
        response = await answer(api, student, attempt["id"], question["item_id"], choice)
        assert response.status_code == 201, response.text
    if submit:
        done = await api.post(f"/exams/{exam['id']}/submit", headers=student.headers)
        assert done.status_code == 200, done.text


async def _sit_cat(api: httpx.AsyncClient, student: User, exam: dict[str, Any]) -> dict[str, Any]:
    view = await start(api, student, exam)
    attempt_id = view["id"]
    while view["status"] == "active":
        (question,) = view["questions"]
        response = await answer(api, student, attempt_id, question["item_id"], 1)
        assert response.status_code == 201, response.text
        view = response.json()["attempt"]
    return view


async def _cat_exam(api: httpx.AsyncClient, s: School, **extra: Any) -> dict[str, Any]:
    params = [{"a": 2.0, "b": -2.0 + 0.2 * i, "c": 0.0} for i in range(21)]
    items = await make_items(api, s.teacher, s.org, 21, params=params)
    cat = {"se_stop": 0.5, "max_items": 8, "top_k": 1}
    return await make_exam(api, s.teacher, s.org, items, "cat", cat=cat, **extra)


async def _teacher_board(api: httpx.AsyncClient, user: User, **params: Any) -> httpx.Response:
    return await api.get("/dashboard/teacher", params=params, headers=user.headers)


async def test_teacher_sees_counts_distribution_and_item_statistics(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """3 submitted attempts at a 2-item form give the hand-checked distribution, p and r_pb."""
    s = await school(factory, students=4)
    items = await make_items(api, s.teacher, s.org, 2)  # key: choice 1
    exam = await make_exam(api, s.teacher, s.org, items, "fixed")
    await _sit(api, s.students[0], exam, [1, 1], submit=True)  # 2 / 2
    await _sit(api, s.students[1], exam, [1, 0], submit=True)  # 1 / 2
    await _sit(api, s.students[2], exam, [0, 0], submit=True)  # 0 / 2
    await _sit(api, s.students[3], exam, [1], submit=False)  # in progress: not counted
    response = await _teacher_board(api, s.teacher)
    assert response.status_code == 200, response.text
    (stats,) = response.json()["exams"]
    assert stats["exam_id"] == exam["id"] and stats["mode"] == "fixed"
    assert stats["attempts"] == {"started": 4, "submitted": 3, "active": 1}
    assert stats["students"] == 4 and stats["item_count"] == 2
    assert stats["mean_score"] == 1.0 and stats["mean_ratio"] == 0.5
    assert stats["mean_length"] == 2.0 and stats["mean_theta"] is None
    counts = [b["count"] for b in stats["distribution"]]
    assert counts == [1, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert stats["distribution"][5] == {"lower": 0.5, "upper": 0.6, "count": 1}
    assert stats["score_counts"] == [
        {"score": 0, "count": 1},
        {"score": 1, "count": 1},
        {"score": 2, "count": 1},
    ]
    first, second = stats["items"]
    assert [first["item_id"], second["item_id"]] == [i["id"] for i in items]
    assert (first["answered"], first["correct"], second["correct"]) == (3, 2, 1)
    assert math.isclose(first["p_value"], 2 / 3) and math.isclose(second["p_value"], 1 / 3)
    # x = (1, 1, 0) and (1, 0, 0) against totals (2, 1, 0): r = 1 / sqrt(4 / 3) either way.
    assert math.isclose(first["point_biserial"], math.sqrt(3) / 2)
    assert math.isclose(second["point_biserial"], math.sqrt(3) / 2)
    assert (first["a"], first["b"], first["c"], first["drift_flagged"]) == (1.0, 0.0, 0.0, False)


async def test_teacher_dashboard_filters_and_cat_statistics(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """exam_id narrows to one exam; a CAT exam reports mean θ, SE and test length."""
    s = await school(factory, students=1)
    fixed = await make_exam(
        api, s.teacher, s.org, await make_items(api, s.teacher, s.org, 1), "fixed"
    )
    cat = await _cat_exam(api, s)
    done = await _sit_cat(api, s.students[0], cat)
    both = await _teacher_board(api, s.teacher, org_id=str(s.org.id))
    assert [e["exam_id"] for e in both.json()["exams"]] == [cat["id"], fixed["id"]]
    response = await _teacher_board(api, s.teacher, exam_id=cat["id"])
    (stats,) = response.json()["exams"]
    assert math.isclose(stats["mean_theta"], done["theta"])
    assert math.isclose(stats["mean_se"], done["se"])
    assert stats["mean_length"] == done["answered"] and stats["score_counts"] == []
    assert sum(i["answered"] for i in stats["items"]) == done["answered"]
    assert all(i["point_biserial"] is None for i in stats["items"])


async def test_teacher_of_another_org_sees_nothing_of_this_one(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Another school's teacher gets their own (empty) board, 403 for this org, 404 for its exam."""
    s = await school(factory, students=1)
    exam = await make_exam(
        api, s.teacher, s.org, await make_items(api, s.teacher, s.org, 1), "fixed"
    )
    await _sit(api, s.students[0], exam, [1], submit=True)
    stranger = await factory.user("teacher", await factory.org())
    own = await _teacher_board(api, stranger)
    assert own.status_code == 200 and own.json() == {"exams": []}
    by_org = await _teacher_board(api, stranger, org_id=str(s.org.id))
    assert by_org.status_code == 403 and error_of(by_org)["code"] == "forbidden"
    by_exam = await _teacher_board(api, stranger, exam_id=exam["id"])
    assert by_exam.status_code == 404 and error_of(by_exam)["code"] == "not_found"


async def test_students_are_refused_the_teacher_dashboard(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A student gets 403 on the teacher dashboard, with or without org_id."""
    s = await school(factory, students=1)
    for params in ({}, {"org_id": str(s.org.id)}):
        response = await _teacher_board(api, s.students[0], **params)
        assert response.status_code == 403 and error_of(response)["code"] == "forbidden"


async def test_student_sees_own_results_and_theta_history(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock
) -> None:
    """Own attempts only; final θ at once, θ/SE per answer once the exam has closed (it shows
    which answers were right); nothing while active."""
    s = await school(factory, students=2)
    closes = clock.now + timedelta(hours=1)
    cat = await _cat_exam(api, s, closes_at=closes.isoformat())
    done = await _sit_cat(api, s.students[0], cat)
    await _sit_cat(api, s.students[1], cat)
    clock.advance(seconds=1)  # the frozen clock would start both attempts at one instant
    fixed = await make_exam(
        api, s.teacher, s.org, await make_items(api, s.teacher, s.org, 2), "fixed"
    )
    await _sit(api, s.students[0], fixed, [1], submit=False)
    response = await api.get("/dashboard/student", headers=s.students[0].headers)
    assert response.status_code == 200, response.text
    board = response.json()
    assert board["student_id"] == str(s.students[0].id)
    assert not _keys(board) & _SECRET_KEYS
    active, finished = board["attempts"]  # newest first
    assert (active["exam_id"], active["status"], active["answered"]) == (fixed["id"], "active", 1)
    assert active["score"] is None and active["trajectory"] == []
    assert finished["attempt_id"] == done["id"] and finished["exam_title"] == cat["title"]
    assert (finished["score"], finished["max_score"]) == (done["score"], done["max_score"])
    assert finished["trajectory"] == []  # the exam is still open for others
    clock.advance(hours=2)
    response = await api.get("/dashboard/student", headers=s.students[0].headers)
    active, finished = response.json()["attempts"]
    steps = finished["trajectory"]
    assert [p["position"] for p in steps] == list(range(done["answered"]))
    assert math.isclose(steps[-1]["theta"], done["theta"]) and steps[-1]["se"] < steps[0]["se"]
    (point,) = board["theta_history"]
    assert point["attempt_id"] == done["id"] and math.isclose(point["theta"], done["theta"])
    assert point["finished_at"] == finished["finished_at"]


async def test_parent_sees_linked_child_only(api: httpx.AsyncClient, factory: Factory) -> None:
    """An approved link shows that child's results; a pending link and other children do not."""
    s = await school(factory, students=2)
    exam = await make_exam(
        api, s.teacher, s.org, await make_items(api, s.teacher, s.org, 2), "fixed"
    )
    await _sit(api, s.students[0], exam, [1, 1], submit=True)
    await _sit(api, s.students[1], exam, [0, 0], submit=True)
    parent, lonely = await factory.user(), await factory.user()
    now = utc_now()
    for student, status in ((s.students[0], "approved"), (s.students[1], "pending")):
        await factory.fetch(
            """INSERT INTO parent_links (org_id, zone_id, parent_id, student_id, status,
                                         requested_at, expires_at, answered_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            s.org.id,
            s.org.zone_id,
            parent.id,
            student.id,
            status,
            now,
            now + timedelta(days=7),
            now if status == "approved" else None,
        )
    # What approval does (hub/accounts/links.py): the parent joins the child's school.
    await factory.fetch(
        "INSERT INTO memberships (org_id, zone_id, user_id, role) VALUES ($1, $2, $3, 'parent')",
        s.org.id,
        s.org.zone_id,
        parent.id,
    )
    response = await api.get("/dashboard/parent", headers=parent.headers)
    assert response.status_code == 200, response.text
    (child,) = response.json()["children"]
    assert child["student_id"] == str(s.students[0].id) and child["display_name"]
    (attempt,) = child["attempts"]
    assert (attempt["exam_id"], attempt["score"], attempt["max_score"]) == (exam["id"], 2, 2)
    assert not _keys(response.json()) & _SECRET_KEYS
    alone = await api.get("/dashboard/parent", headers=lonely.headers)
    assert alone.status_code == 200 and alone.json() == {"children": []}
