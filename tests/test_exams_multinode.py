"""The three exam modes end to end across two hub processes: students sit on hub A (REST and
an exam client on `/proctor`), their teacher proctors from hub B and sees it all live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from hub.settings import Settings
from tests.exam_support import School, answer, make_exam, make_items, school, start
from tests.hubs import HubProcess, start_hubs
from tests.support import Factory, User
from tests.test_proctor import Proctor


@pytest.fixture(scope="module")
async def hubs(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[list[HubProcess]]:
    # In a thread: the in-process hub, if a test started it, shares this loop and its bus.
    log_dir = tmp_path_factory.mktemp("exam-hubs")
    started = await asyncio.to_thread(start_hubs, settings, 2, log_dir)
    yield started
    for hub in started:
        await asyncio.to_thread(hub.stop)


@dataclass
class Floor:
    """Hub A serves the students (REST and exam clients), hub B the teacher."""

    a: httpx.AsyncClient
    b: httpx.AsyncClient
    hubs: list[HubProcess]
    opened: list[Proctor] = field(default_factory=list)

    async def open(self, hub: HubProcess, auth: dict[str, Any]) -> Proctor:
        client = Proctor()
        self.opened.append(client)
        return await client.connect(hub.url, auth)


@pytest.fixture
async def floor(hubs: list[HubProcess], clean: None) -> AsyncIterator[Floor]:
    async with (
        httpx.AsyncClient(base_url=hubs[0].url + "/api/v1", timeout=10) as a,
        httpx.AsyncClient(base_url=hubs[1].url + "/api/v1", timeout=10) as b,
    ):
        opened = Floor(a, b, hubs)
        yield opened
        for client in opened.opened:  # first, or the hubs' graceful shutdown waits on them
            await client.close()


@dataclass
class Sitting:
    school: School
    items: list[dict[str, Any]]
    exam: dict[str, Any]
    attempts: list[dict[str, Any]]
    teacher: Proctor
    clients: list[Proctor]

    @property
    def students(self) -> list[User]:
        return self.school.students


async def _sitting(floor: Floor, factory: Factory, mode: str, **exam: Any) -> Sitting:
    """Both students start on hub A, the teacher's dashboard joins on hub B and sees them, then
    the students' exam clients connect to hub A and the teacher hears each one."""
    s = await school(factory)
    params = exam.pop("params", None)
    bank = await make_items(floor.a, s.teacher, s.org, exam.pop("items", 3), params=params)
    made = await make_exam(floor.a, s.teacher, s.org, bank, mode, **exam)
    attempts = [await start(floor.a, student, made) for student in s.students]
    teacher = await floor.open(floor.hubs[1], {"token": s.teacher.token, "exam_id": made["id"]})
    roster = await teacher.next("proctor.roster")
    assert sorted((e["attempt_id"], e["student_id"]) for e in roster["attempts"]) == sorted(
        (a["id"], str(student.id)) for a, student in zip(attempts, s.students, strict=True)
    )
    for entry in roster["attempts"]:
        assert (entry["status"], entry["answered"], entry["connected"]) == ("active", 0, False)
    clients = []
    for student, attempt in zip(s.students, attempts, strict=True):
        auth = {"token": student.token, "attempt_id": attempt["id"]}
        clients.append(await floor.open(floor.hubs[0], auth))
        joined = await teacher.next("proctor.student")
        assert (joined["attempt_id"], joined["student_id"]) == (attempt["id"], str(student.id))
        assert (joined["connected"], joined["reconnected"]) == (True, False)
    return Sitting(s, bank, made, attempts, teacher, clients)


class Board:
    """The teacher's live view of the exam, built only from `proctor.progress` events."""

    def __init__(self, sit: Sitting) -> None:
        self.sit = sit
        self.latest: dict[str, dict[str, Any]] = {}

    async def next(self, k: int, change: str) -> dict[str, Any]:
        progress = await self.sit.teacher.next("proctor.progress")
        assert (progress["attempt_id"], progress["change"]) == (self.sit.attempts[k]["id"], change)
        assert progress["student_id"] == str(self.sit.students[k].id)
        self.latest[progress["attempt_id"]] = progress
        return dict(progress)

    def total(self, key: str) -> int:
        return sum(int(p[key]) for p in self.latest.values())


async def _answer(
    floor: Floor, sit: Sitting, board: Board, k: int, item_id: str, choice: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Student k answers over REST on hub A; the teacher on hub B hears the progress."""
    response = await answer(floor.a, sit.students[k], sit.attempts[k]["id"], item_id, choice)
    assert response.status_code == 201, response.text
    return response.json()["attempt"], await board.next(k, "answered")


async def _finished(sit: Sitting, k: int, finished_by: str) -> dict[str, Any]:
    """Student k's exam client on hub A is told the attempt is over, once."""
    finished = await sit.clients[k].next("exam.finished")
    assert (finished["attempt_id"], finished["exam_id"]) == (sit.attempts[k]["id"], sit.exam["id"])
    assert finished["finished_by"] == finished_by
    return dict(finished)


async def _results(floor: Floor, sit: Sitting) -> dict[str, dict[str, Any]]:
    """The teacher's results over REST on hub B, by attempt."""
    response = await floor.b.get(
        f"/exams/{sit.exam['id']}/results", headers=sit.school.teacher.headers
    )
    assert response.status_code == 200, response.text
    return {r["attempt_id"]: r for r in response.json()["attempts"]}


def _at(stamp: str) -> datetime:
    """REST writes UTC as 'Z', socket payloads as '+00:00': compare instants."""
    return datetime.fromisoformat(stamp)


def _only_own_events(sit: Sitting) -> None:
    """Nothing meant for one attempt reached the other's client, and nothing came twice."""
    for client in sit.clients:
        for event in ("proctor.warning", "exam.time_extended", "exam.finished"):
            assert client.queues[event].empty(), event


async def test_fixed_form_live_scores_and_submit_through_the_other_hub(
    floor: Floor, factory: Factory
) -> None:
    """Fixed form: each answer on hub A moves the live score on hub B; a submit there ends it."""
    sit = await _sitting(floor, factory, "fixed")
    board, items = Board(sit), sit.items
    # (student, item, choice): the key is 1; any order, the second student leaves two blank.
    plan = [(0, 2, 1), (1, 1, 1), (0, 0, 0), (0, 1, 1)]
    expected, answered = [0, 0], [0, 0]
    for k, i, choice in plan:
        view, progress = await _answer(floor, sit, board, k, items[i]["id"], choice)
        expected[k] += choice == 1
        answered[k] += 1
        assert view["status"] == "active" and view["score"] is None  # hidden from the student
        assert (progress["status"], progress["score"], progress["max_score"]) == (
            "active",
            expected[k],
            3,
        )
        assert (progress["answered"], progress["deadline_at"]) == (answered[k], None)
        assert board.total("score") == sum(expected)
    for k in (1, 0):
        done = await floor.b.post(
            f"/exams/{sit.exam['id']}/submit", headers=sit.students[k].headers
        )
        assert done.status_code == 200, done.text
        assert (done.json()["status"], done.json()["score"]) == ("submitted", expected[k])
        progress = await board.next(k, "finished")
        assert (progress["status"], progress["score"]) == ("submitted", expected[k])
        await _finished(sit, k, "student")
    _only_own_events(sit)
    results = await _results(floor, sit)
    for k, attempt in enumerate(sit.attempts):
        row, live = results[attempt["id"]], board.latest[attempt["id"]]
        assert (row["status"], row["finished_by"]) == ("submitted", "student")
        assert (row["answered"], row["score"], row["max_score"]) == (
            live["answered"],
            live["score"],
            live["max_score"],
        )
        assert row["score"] == expected[k]
    assert board.total("score") == sum(expected) == 3


async def test_cbt_last_answer_submits_and_both_hubs_hear_it(
    floor: Floor, factory: Factory
) -> None:
    """CBT: answers in order on hub A score live on hub B; the last one submits the attempt."""
    sit = await _sitting(floor, factory, "cbt", time_limit_s=600)
    board, items = Board(sit), sit.items
    choices = [[1, 1, 0], [0, 1, 1]]
    expected = [0, 0]
    for position in range(3):
        for k in (0, 1):
            choice = choices[k][position]
            view, progress = await _answer(floor, sit, board, k, items[position]["id"], choice)
            expected[k] += choice == 1
            last = position == 2
            status = "submitted" if last else "active"
            assert view["status"] == status
            assert (progress["status"], progress["answered"]) == (status, position + 1)
            assert (progress["score"], progress["max_score"]) == (expected[k], 3)
            assert _at(progress["deadline_at"]) == _at(sit.attempts[k]["deadline_at"])
            assert board.total("score") == sum(expected)
            if last:
                assert (view["score"], view["finished_by"]) == (expected[k], "student")
                finished = await board.next(k, "finished")
                assert (finished["status"], finished["score"]) == ("submitted", expected[k])
                await _finished(sit, k, "student")
    _only_own_events(sit)
    results = await _results(floor, sit)
    for k, attempt in enumerate(sit.attempts):
        row = results[attempt["id"]]
        assert (row["status"], row["finished_by"], row["answered"]) == ("submitted", "student", 3)
        assert (row["score"], row["max_score"]) == (expected[k], 3)
    assert expected == [2, 2]


async def test_cat_stops_by_its_se_rule_and_the_teacher_sees_theta(
    floor: Floor, factory: Factory
) -> None:
    """CAT: every answer on hub A reaches hub B live; each attempt stops by its SE rule and the
    results on hub B carry θ."""
    params = [{"a": 2.0, "b": -2.0 + 0.2 * i, "c": 0.0} for i in range(21)]
    se_stop, max_items = 0.5, 20
    cat = {"se_stop": se_stop, "max_items": max_items, "top_k": 1, "r_max": None}
    sit = await _sitting(floor, factory, "cat", items=21, params=params, cat=cat)
    board = Board(sit)
    views = list(sit.attempts)
    choice = [1, 0]  # the key is 1: the first student is always right, the second never
    seen: list[list[str]] = [[], []]
    while any(v["status"] == "active" for v in views):
        for k in (0, 1):
            if views[k]["status"] != "active":
                continue
            (question,) = views[k]["questions"]
            seen[k].append(question["item_id"])
            views[k], progress = await _answer(floor, sit, board, k, question["item_id"], choice[k])
            n = len(seen[k])
            assert progress["answered"] == n == views[k]["answered"]
            assert (progress["score"], progress["max_score"]) == (n if k == 0 else 0, n)
            assert progress["status"] == views[k]["status"]
            if views[k]["status"] == "submitted":
                assert (await board.next(k, "finished"))["status"] == "submitted"
                await _finished(sit, k, "cat_stop")
    _only_own_events(sit)
    results = await _results(floor, sit)
    for k, attempt in enumerate(sit.attempts):
        row, view = results[attempt["id"]], views[k]
        assert (row["status"], row["finished_by"]) == ("submitted", "cat_stop")
        assert row["answered"] == len(seen[k]) == len(set(seen[k])) < max_items
        assert row["se"] < se_stop  # the SE rule stopped it, not the length cap
        assert (row["theta"], row["se"]) == (view["theta"], view["se"])
        assert (row["score"], row["max_score"]) == (
            board.latest[attempt["id"]]["score"],
            board.latest[attempt["id"]]["max_score"],
        )
    assert results[sit.attempts[0]["id"]]["theta"] > 0.5
    assert results[sit.attempts[1]["id"]]["theta"] < -0.5


async def test_warning_and_extension_from_hub_b_reach_the_student_on_hub_a(
    floor: Floor, factory: Factory
) -> None:
    """The teacher on hub B warns and extends one student on hub A: their client hears both at
    once, the deadline moves by exactly the seconds given, the other student is untouched."""
    sit = await _sitting(floor, factory, "cbt", time_limit_s=600)
    target, other = sit.attempts
    warned = await sit.teacher.call("warn", {"attempt_id": target["id"], "message": "시선 고정"})
    assert "error" not in warned, warned
    warning = await sit.clients[0].next("proctor.warning")
    assert (warning["attempt_id"], warning["message"]) == (target["id"], "시선 고정")
    assert warning["event_id"] == warned["event_id"]
    extended = await sit.teacher.call("extend", {"attempt_id": target["id"], "seconds": 90})
    assert "error" not in extended, extended
    heard = await sit.clients[0].next("exam.time_extended")
    old = _at(target["deadline_at"])
    assert (heard["attempt_id"], heard["seconds"]) == (target["id"], 90)
    assert _at(heard["deadline_at"]) == old + timedelta(seconds=90)
    assert _at(heard["deadline_at"]) == _at(extended["deadline_at"])
    progress = await Board(sit).next(0, "time_extended")
    assert _at(progress["deadline_at"]) == _at(heard["deadline_at"])
    stored = {
        str(r["id"]): r["deadline_at"]
        for r in await factory.fetch("SELECT id, deadline_at FROM attempts")
    }
    assert stored[target["id"]] - old == timedelta(seconds=90)
    assert stored[other["id"]] == _at(other["deadline_at"])
    # A warning to the other student, published after the rest, is the first thing they hear.
    await sit.teacher.call("warn", {"attempt_id": other["id"], "message": "now you"})
    assert (await sit.clients[1].next("proctor.warning"))["attempt_id"] == other["id"]
    _only_own_events(sit)
