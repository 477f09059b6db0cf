"""Live proctoring on `/proctor`: exam clients' heartbeats and flags, the teacher's roster and
commands, refusals that change nothing, and a hub crash mid-exam."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from hub.clock import utc_now
from hub.context import HubContext
from hub.proctor import flags
from hub.settings import Settings
from hub.tokens import TokenIssuer
from tests.exam_support import School, answer, make_exam, make_items, school, start
from tests.hubs import HubProcess, start_hubs
from tests.sockets import Refused
from tests.support import Factory, User

NS = "/proctor"
EVENTS = (
    "proctor.roster",
    "proctor.flag",
    "proctor.student",
    "proctor.progress",
    "proctor.warning",
    "exam.time_extended",
    "exam.finished",
    "auth.expired",
    "session.closed",
)


class Proctor:
    """A real Socket.IO client on the `/proctor` namespace: a queue per event, acks as calls."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.queues: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        self.disconnected = asyncio.Event()
        for event in EVENTS:
            self.sio.on(event, self._recorder(event), namespace=NS)
        self.sio.on("disconnect", lambda *args: self.disconnected.set(), namespace=NS)

    def _recorder(self, event: str) -> Callable[[Any], Awaitable[None]]:
        async def record(data: Any) -> None:
            await self.queues[event].put(data)

        return record

    async def connect(self, url: str, auth: dict[str, Any]) -> Proctor:
        refusals: list[Any] = []
        self.sio.on("connect_error", refusals.append, namespace=NS)
        try:
            await self.sio.connect(
                url, namespaces=[NS], auth=auth, transports=["websocket"], wait_timeout=5
            )
        except socketio.exceptions.ConnectionError:
            raise Refused(refusals[0] if refusals else None) from None
        return self

    async def call(self, event: str, data: Any, timeout: float = 10) -> Any:
        return await self.sio.call(event, data, namespace=NS, timeout=timeout)

    async def next(self, event: str, timeout: float = 5) -> Any:
        return await asyncio.wait_for(self.queues[event].get(), timeout)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


Open = Callable[..., Awaitable[Proctor]]


def _student(user: User, attempt: dict[str, Any]) -> dict[str, Any]:
    return {"token": user.token, "attempt_id": attempt["id"]}


def _teacher(user: User, exam: dict[str, Any]) -> dict[str, Any]:
    return {"token": user.token, "exam_id": exam["id"]}


def _event(kind: str, ago_s: float = 0, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "client_time": (utc_now() - timedelta(seconds=ago_s)).isoformat(),
        **extra,
    }


@pytest.fixture
async def sockets(clean: None) -> AsyncIterator[list[Proctor]]:
    opened: list[Proctor] = []
    yield opened
    for client in opened:
        await client.close()


@pytest.fixture
def proctor(hub_server: tuple[str, Any], sockets: list[Proctor]) -> Open:
    """Open `/proctor` clients to the in-process hub (or to `url`); closed after the test."""

    async def open_client(auth: dict[str, Any], url: str | None = None) -> Proctor:
        client = Proctor()
        sockets.append(client)
        return await client.connect(url or hub_server[0], auth)

    return open_client


@dataclass
class Sitting:
    school: School
    items: list[dict[str, Any]]
    exam: dict[str, Any]
    attempt: dict[str, Any]

    @property
    def student(self) -> User:
        return self.school.students[0]

    @property
    def teacher(self) -> User:
        return self.school.teacher


async def _sitting(api: httpx.AsyncClient, factory: Factory, items: int = 3) -> Sitting:
    """A CBT exam with a 10-minute limit and the first student's attempt in progress."""
    s = await school(factory)
    bank = await make_items(api, s.teacher, s.org, items)
    exam = await make_exam(api, s.teacher, s.org, bank, "cbt", time_limit_s=600)
    return Sitting(s, bank, exam, await start(api, s.students[0], exam))


def test_severity_rules_and_escalation() -> None:
    """Severity is pure code: devtools serious, leaving the exam a warning, every 5th warning
    serious."""
    assert flags.severity_of("devtools_opened", 0) == "serious"
    assert flags.severity_of("reconnect", 99) == "info"
    assert [flags.severity_of("copy", n) for n in range(10)] == (["warning"] * 4 + ["serious"]) * 2
    assert flags.severity_of("paste", 1, every=2) == "serious"


async def test_events_are_stored_with_both_clocks(
    api: httpx.AsyncClient, factory: Factory, proctor: Open
) -> None:
    """An exam client's event is stored with client and server time; heartbeats skip
    PostgreSQL."""
    sit = await _sitting(api, factory)
    client = await proctor(_student(sit.student, sit.attempt))
    before = await factory.snapshot()
    beat = await client.call("heartbeat", {"client_time": utc_now().isoformat(), "question": 1})
    assert "server_time" in beat and abs(beat["skew_s"]) < 30
    assert await factory.snapshot() == before
    sent = _event("focus_lost", ago_s=3, details={"duration_ms": 1200, "where": "탭 전환"})
    ack = await client.call("event", sent)
    assert (ack["kind"], ack["severity"], ack["duplicate"]) == ("focus_lost", "warning", False)
    assert ack["flags"] == {"info": 0, "warning": 1, "serious": 0}
    (row,) = await factory.fetch(
        "SELECT attempt_id, exam_id, student_id, actor_id, kind, severity, client_at, server_at,"
        " details FROM proctor_events"
    )
    assert str(row["attempt_id"]) == sit.attempt["id"] and str(row["exam_id"]) == sit.exam["id"]
    assert row["student_id"] == sit.student.id and row["actor_id"] is None
    assert row["client_at"] == datetime.fromisoformat(sent["client_time"])
    assert timedelta(seconds=3) <= row["server_at"] - row["client_at"] < timedelta(seconds=60)
    assert '"탭 전환"' in row["details"]


async def test_teacher_sees_roster_flags_and_departures_live(
    api: httpx.AsyncClient, factory: Factory, proctor: Open
) -> None:
    """The dashboard gets the roster on joining, each flag as it happens, and who left."""
    sit = await _sitting(api, factory)
    student = await proctor(_student(sit.student, sit.attempt))
    assert (await answer(api, sit.student, sit.attempt["id"], sit.items[0]["id"], 1)).is_success
    await student.call("heartbeat", {"client_time": utc_now().isoformat(), "question": 2})
    teacher = await proctor(_teacher(sit.teacher, sit.exam))
    roster = await teacher.next("proctor.roster")
    (entry,) = roster["attempts"]
    assert entry["attempt_id"] == sit.attempt["id"] and entry["student_id"] == str(sit.student.id)
    assert (entry["connected"], entry["sockets"], entry["question"]) == (True, 1, 2)
    assert (entry["answered"], entry["score"], entry["status"]) == (1, 1, "active")
    assert 0 <= entry["since_heartbeat_s"] < 30 and 540 < entry["time_left_s"] <= 600
    assert entry["flags"] == {"info": 0, "warning": 0, "serious": 0}
    ack = await student.call("event", _event("tab_hidden"))
    flag = await teacher.next("proctor.flag")
    assert (flag["id"], flag["kind"], flag["severity"]) == (ack["id"], "tab_hidden", "warning")
    assert flag["attempt_id"] == sit.attempt["id"] and flag["flags"]["warning"] == 1
    await student.call("event", _event("reconnect"))  # info: stored, not pushed as a flag
    await student.close()
    left = await teacher.next("proctor.student")
    assert (left["attempt_id"], left["connected"]) == (sit.attempt["id"], False)
    assert teacher.queues["proctor.flag"].empty()
    (entry,) = (await teacher.call("roster", {}))["attempts"]
    assert entry["connected"] is False
    assert entry["flags"] == {"info": 1, "warning": 1, "serious": 0}


async def test_warn_extend_and_end_reach_the_student_at_once(
    api: httpx.AsyncClient, factory: Factory, proctor: Open
) -> None:
    """A warning, an extension and an end each reach the exam client and the record."""
    sit = await _sitting(api, factory)
    student = await proctor(_student(sit.student, sit.attempt))
    teacher = await proctor(_teacher(sit.teacher, sit.exam))
    attempt_id = sit.attempt["id"]
    warned = await teacher.call("warn", {"attempt_id": attempt_id, "message": "화면을 보세요"})
    got = await student.next("proctor.warning")
    assert got["message"] == "화면을 보세요" and got["event_id"] == warned["event_id"]
    extended = await teacher.call("extend", {"attempt_id": attempt_id, "seconds": 120})
    heard = await student.next("exam.time_extended")
    old = datetime.fromisoformat(sit.attempt["deadline_at"])
    assert datetime.fromisoformat(heard["deadline_at"]) == old + timedelta(seconds=120)
    assert heard["deadline_at"] == extended["deadline_at"]
    view = (await api.get(f"/attempts/{attempt_id}", headers=sit.student.headers)).json()
    assert datetime.fromisoformat(view["deadline_at"]) == old + timedelta(seconds=120)
    ended = await teacher.call("end", {"attempt_id": attempt_id, "reason": "부정행위 의심"})
    finished = await student.next("exam.finished")
    assert finished["finished_by"] == "teacher" == ended["finished_by"]
    assert finished["reason"] == "부정행위 의심"
    row = await factory.fetch("SELECT status::text, finished_by FROM attempts")
    assert [tuple(r) for r in row] == [("submitted", "teacher")]
    actions = await factory.fetch(
        "SELECT kind, actor_id FROM proctor_events WHERE actor_id IS NOT NULL ORDER BY id"
    )
    assert [r["kind"] for r in actions] == ["warning_sent", "time_extended", "attempt_ended"]
    assert {r["actor_id"] for r in actions} == {sit.teacher.id}


async def test_serious_flags_alert_parents_once_and_retries_are_not_doubled(
    api: httpx.AsyncClient,
    factory: Factory,
    proctor: Open,
    hub_ctx: HubContext,
    settings: Settings,
) -> None:
    """devtools and the 5th warning are serious: one parent alert each, a retry stores nothing."""
    sit = await _sitting(api, factory)
    parent = await factory.user()
    await factory.fetch(
        """INSERT INTO parent_links (org_id, zone_id, parent_id, student_id, status,
                                     requested_at, expires_at)
           VALUES ($1, $2, $3, $4, 'approved', now(), now() + interval '1 day')""",
        sit.school.org.id,
        sit.school.org.zone_id,
        parent.id,
        sit.student.id,
    )
    client = await proctor(_student(sit.student, sit.attempt))
    devtools = _event("devtools_opened", event_id="e-1")
    ack = await client.call("event", devtools)
    assert ack["severity"] == "serious"
    again = await client.call("event", devtools)
    assert again["id"] == ack["id"] and again["duplicate"] is True
    severities = [(await client.call("event", _event("copy")))["severity"] for _ in range(5)]
    assert severities == ["warning"] * 4 + ["serious"]
    assert await factory.fetchval("SELECT count(*) FROM proctor_events") == 6
    queued = await hub_ctx.redis.zrange(hub_ctx.keys.job_queue, 0, -1)
    alerts = sorted(q.decode() for q in queued if b"proctor_flag" in q)
    prefix = (
        f"{settings.redis_namespace}:notify-users:proctor_flag:proctor_flag:{sit.attempt['id']}"
    )
    assert alerts == [f"{prefix}:{ack['id']}:ko", f"{prefix}:{ack['id'] + 5}:ko"]


async def test_connecting_for_someone_elses_exam_is_refused(
    api: httpx.AsyncClient, factory: Factory, proctor: Open
) -> None:
    """Another student's attempt, another school's exam, a student as proctor: refused,
    nothing stored."""
    sit = await _sitting(api, factory)
    stranger = await factory.user("teacher", await factory.org())
    before = await factory.snapshot()
    cases = [
        (_student(sit.school.students[1], sit.attempt), "not_found"),
        (_student(sit.teacher, sit.attempt), "forbidden"),
        (_teacher(stranger, sit.exam), "not_found"),
        (_teacher(sit.student, sit.exam), "forbidden"),
        ({"attempt_id": sit.attempt["id"]}, "unauthenticated"),
        ({"token": sit.student.token}, "validation_error"),
        ({**_student(sit.student, sit.attempt), "extra": 1}, "validation_error"),
    ]
    for auth, code in cases:
        with pytest.raises(Refused) as refused:
            await proctor(auth)
        assert refused.value.data["data"] == {"code": code}, auth
    assert await factory.snapshot() == before


async def test_commands_about_another_schools_attempt_change_nothing(
    api: httpx.AsyncClient, factory: Factory, proctor: Open
) -> None:
    """A teacher watching their own exam cannot warn, extend or end another school's attempt."""
    sit = await _sitting(api, factory)
    other = await _sitting(api, factory)
    student = await proctor(_student(sit.student, sit.attempt))
    intruder = await proctor(_teacher(other.teacher, other.exam))
    await intruder.next("proctor.roster")
    before = await factory.snapshot()
    attempt_id = sit.attempt["id"]
    for event, body in (
        ("warn", {"attempt_id": attempt_id, "message": "hi"}),
        ("extend", {"attempt_id": attempt_id, "seconds": 600}),
        ("end", {"attempt_id": attempt_id, "reason": "bye"}),
    ):
        ack = await intruder.call(event, body)
        assert ack["error"]["code"] == "not_found", (event, ack)
    assert await factory.snapshot() == before
    deadline = await factory.fetchval("SELECT deadline_at FROM attempts WHERE id = $1", attempt_id)
    assert deadline == datetime.fromisoformat(sit.attempt["deadline_at"])
    for queue in ("proctor.warning", "exam.time_extended", "exam.finished"):
        assert student.queues[queue].empty()


async def test_malformed_payloads_and_late_events_are_refused(
    api: httpx.AsyncClient, factory: Factory, proctor: Open
) -> None:
    """Bad payloads, wrong-role events and events after submission get a code; nothing is
    stored."""
    sit = await _sitting(api, factory)
    student = await proctor(_student(sit.student, sit.attempt))
    teacher = await proctor(_teacher(sit.teacher, sit.exam))
    before = await factory.snapshot()
    attempt_id = sit.attempt["id"]
    for client, event, body in (
        (student, "event", _event("screenshot")),
        (student, "event", {"kind": "copy", "client_time": "2024-01-01T00:00:00"}),
        (student, "event", _event("copy", details={"text": "x" * 201})),
        (student, "event", _event("copy", details={f"k{i}": "v" * 150 for i in range(8)})),
        (student, "event", _event("copy", details={"client_event_id": "forged"})),
        (student, "event", _event("copy", details={"ratio": float("nan")})),
        (student, "heartbeat", {"question": 1}),
        (student, "heartbeat", "beat"),
        (student, "warn", {"attempt_id": attempt_id, "message": "self-warning"}),
        (teacher, "event", _event("copy")),
        (teacher, "warn", {"attempt_id": attempt_id, "message": ""}),
        (teacher, "extend", {"attempt_id": attempt_id, "seconds": 0}),
        (teacher, "extend", {"attempt_id": attempt_id, "seconds": 7201}),
        (teacher, "end", {"attempt_id": "not-a-uuid", "reason": "x"}),
    ):
        ack = await client.call(event, body)
        assert ack["error"]["code"] == "validation_error", (event, body, ack)
        assert ack["error"]["message"]
    assert await factory.snapshot() == before
    submitted = await api.post(f"/exams/{sit.exam['id']}/submit", headers=sit.student.headers)
    assert submitted.status_code == 200
    before = await factory.snapshot()
    late = await student.call("event", _event("paste"))
    assert late["error"]["code"] == "attempt_finished"
    assert (await teacher.call("warn", {"attempt_id": attempt_id, "message": "hi"}))["error"][
        "code"
    ] == "attempt_finished"
    assert await factory.snapshot() == before
    with pytest.raises(Refused) as refused:
        await proctor(_student(sit.student, sit.attempt))
    assert refused.value.data["data"] == {"code": "attempt_finished"}


# --- several hub processes -------------------------------------------------------------------


@pytest.fixture
async def doomed_hubs(
    settings: Settings, tmp_path: Path, sockets: list[Proctor]
) -> AsyncIterator[list[HubProcess]]:
    """Two fresh hub processes, for a test that kills one."""
    # In a thread: the in-process hub shares this event loop and must keep hearing its bus.
    started = await asyncio.to_thread(start_hubs, settings, 2, tmp_path)
    yield started
    for client in sockets:  # first, or the hubs' graceful shutdown waits on them
        await client.close()
    for hub in started:
        hub.stop()


async def test_hub_crash_mid_exam_loses_nothing_and_the_exam_goes_on(
    api: httpx.AsyncClient,
    factory: Factory,
    proctor: Open,
    doomed_hubs: list[HubProcess],
    settings: Settings,
) -> None:
    """SIGKILL the student's hub: acknowledged answers and flags stay, the deadline holds, the
    client goes on through the other hub, and the teacher there sees it all."""
    survivor, victim = doomed_hubs
    sit = await _sitting(api, factory, items=4)
    attempt_id = sit.attempt["id"]
    teacher = await proctor(_teacher(sit.teacher, sit.exam), survivor.url)
    await teacher.next("proctor.roster")
    student = await proctor(_student(sit.student, sit.attempt), victim.url)
    assert (await teacher.next("proctor.student"))["connected"] is True
    flag_ids = []
    async with httpx.AsyncClient(base_url=victim.url + "/api/v1") as on_victim:
        for item in sit.items[:2]:
            assert (await answer(on_victim, sit.student, attempt_id, item["id"], 1)).is_success
    for kind in ("tab_hidden", "copy"):
        ack = await student.call("event", _event(kind))
        flag_ids.append(ack["id"])
        assert (await teacher.next("proctor.flag"))["id"] == ack["id"]  # from hub A to hub B
    victim.kill()
    await asyncio.wait_for(student.disconnected.wait(), 5)
    # The dead hub's socket expires by itself: the roster stops calling the student connected.
    gone_by = time.monotonic() + settings.presence_ttl_s * 5
    while (await teacher.call("roster", {}))["attempts"][0]["connected"]:
        assert time.monotonic() < gone_by, "a crashed hub left the student connected"
        await asyncio.sleep(0.1)
    student = await proctor(_student(sit.student, sit.attempt), survivor.url)
    back = await teacher.next("proctor.student")
    assert (back["connected"], back["reconnected"]) == (True, True)
    assert await factory.fetchval("SELECT count(*) FROM answers") == 2
    stored = await factory.fetch("SELECT id, kind FROM proctor_events ORDER BY id")
    assert [r["id"] for r in stored[:2]] == flag_ids
    assert [r["kind"] for r in stored] == ["tab_hidden", "copy", "reconnect"]
    deadline = await factory.fetchval("SELECT deadline_at FROM attempts WHERE id = $1", attempt_id)
    assert deadline == datetime.fromisoformat(sit.attempt["deadline_at"])
    async with httpx.AsyncClient(base_url=survivor.url + "/api/v1") as on_survivor:
        third = await answer(on_survivor, sit.student, attempt_id, sit.items[2]["id"], 1)
    assert third.status_code == 201, third.text
    while (await teacher.next("proctor.progress"))["answered"] != 3:
        pass  # the progress of the answers through hub A came first
    ack = await student.call("event", _event("paste"))
    assert (await teacher.next("proctor.flag"))["id"] == ack["id"]


async def test_logout_closes_exam_client_and_dashboard(
    api: httpx.AsyncClient, factory: Factory, proctor: Open
) -> None:
    """Signing out closes that session's proctoring sockets too, not only the chat ones."""
    sit = await _sitting(api, factory)
    student = await proctor(_student(sit.student, sit.attempt))
    teacher = await proctor(_teacher(sit.teacher, sit.exam))
    for user, client in ((sit.student, student), (sit.teacher, teacher)):
        assert (await api.post("/auth/logout", headers=user.headers)).status_code == 204
        assert (await client.next("session.closed"))["reason"] == "logout"
        await asyncio.wait_for(client.disconnected.wait(), 5)


async def test_exam_client_token_must_be_renewed(
    api: httpx.AsyncClient, factory: Factory, proctor: Open, hub_ctx: HubContext
) -> None:
    """An exam client renews its token with auth.refresh; one that does not is told and closed."""
    sit = await _sitting(api, factory)
    # exp is whole seconds, so a 3 s token lives 2-3 s: time to connect and refresh one.
    short = TokenIssuer(hub_ctx.settings.jwt_secret, 3)
    token = short.issue_access(sit.student.id, sit.student.session_id, utc_now())
    renewed = await proctor({"token": token, "attempt_id": sit.attempt["id"]})
    lapsing = await proctor({"token": token, "attempt_id": sit.attempt["id"]})
    fresh = TokenIssuer(hub_ctx.settings.jwt_secret, 600).issue_access(
        sit.student.id, sit.student.session_id, utc_now()
    )
    assert (await renewed.call("auth.refresh", {"access_token": fresh}))["ok"] is True
    wrong = await renewed.call("auth.refresh", {"access_token": sit.teacher.token})
    assert wrong["error"]["code"] == "forbidden"
    assert (await lapsing.next("auth.expired", timeout=8))["code"] == "token_expired"
    await asyncio.wait_for(lapsing.disconnected.wait(), 5)
    assert renewed.sio.connected
    beat = await renewed.call("heartbeat", {"client_time": utc_now().isoformat()})
    assert "error" not in beat


async def test_proctor_events_share_the_process_cap_and_are_answered_overloaded_past_it(
    hub_server: tuple[str, Any], api: httpx.AsyncClient, factory: Factory, proctor: Open
) -> None:
    """The `/proctor` namespace takes its slots from the same per-process cap as chat
    (issue 13 §2): with it full, a heartbeat is answered `overloaded` with `retry_after`."""
    sit = await _sitting(api, factory)
    client = await proctor(_student(sit.student, sit.attempt))
    admission = hub_server[1].other_asgi_app.state.sio.namespace_handlers[NS].admission
    original = admission.limit
    admission.limit = admission.running
    try:
        refused = await client.call("heartbeat", {"client_time": utc_now().isoformat()})
    finally:
        admission.limit = original
    assert refused["error"]["code"] == "overloaded" and refused["error"]["retry_after"] == 1
    beat = await client.call("heartbeat", {"client_time": utc_now().isoformat()})
    assert "server_time" in beat
