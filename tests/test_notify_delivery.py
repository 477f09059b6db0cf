"""Who is told what, through the real arq worker, the real firebase-admin client against an
FCM stand-in on 127.0.0.1, and a real SMTP server."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import time
from typing import Any

import httpx
import pytest
from arq.connections import RedisSettings
from arq.worker import Worker

from hub.context import HubContext
from hub.notify.email import EmailSender
from hub.settings import Settings
from tests.burst import run_burst
from tests.fcm_standin import Behaviour, FcmStandIn
from tests.sockets import Client
from tests.support import Factory, User
from tests.test_email import Recorder, smtpd  # noqa: F401 - the SMTP server fixture
from workers import base
from workers.main import WorkerSettings

Connect = Callable[[User], Awaitable[Client]]


@pytest.fixture(scope="module")
def fcm() -> Iterator[FcmStandIn]:
    standin = FcmStandIn().start()
    standin.retry_after_s = 1
    yield standin
    standin.stop()


async def _run_worker(settings: Settings, ctx: dict[str, Any]) -> Worker:
    """Run the product's worker functions in burst mode until the queue is empty."""
    return await run_burst(
        RedisSettings.from_dsn(settings.redis_dsn), ctx["hub"].keys.job_queue, ctx
    )


async def _device(factory: Factory, user: User, token: str) -> None:
    await factory.fetch(
        "INSERT INTO devices (token, user_id, platform) VALUES ($1, $2, 'android')", token, user.id
    )


def _pushes_to(fcm: FcmStandIn, token: str) -> list[dict[str, Any]]:
    return [m for m in fcm.messages if m["message"]["token"] == token]


def _send(conv: Any, text: str) -> dict[str, Any]:
    return {"conversation_id": str(conv), "client_msg_id": uuid.uuid4().hex, "content": text}


async def test_burst_gives_offline_members_one_push_and_skips_muted_and_online(
    connect: Connect,
    factory: Factory,
    fcm: FcmStandIn,
    worker_ctx: dict[str, Any],
    hub_ctx: HubContext,
    clock: Any,
) -> None:
    """Three messages become one push ("3 new messages") for the offline member only."""
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    online, offline, muted = [await factory.user("student", org) for _ in range(3)]
    conv = await factory.conversation("group", org, [teacher], [online, offline, muted])
    for user, token in (
        (online, "tok-online-" + "x" * 20),
        (offline, "tok-offline-" + "x" * 20),
        (muted, "tok-muted-" + "x" * 20),
    ):
        await _device(factory, user, token)
    await factory.fetch("UPDATE participants SET muted = true WHERE user_id = $1", muted.id)
    t = await connect(teacher)
    await connect(online)
    for text in ("내일 준비물", "체육복", "물통"):
        assert "seq" in await t.call("message.send", _send(conv, text))
    queued = await hub_ctx.redis.zrange(hub_ctx.keys.job_queue, 0, -1)
    assert [q for q in queued if str(conv).encode() in q] and len(queued) == 1  # one per burst
    job = WorkerSettings.functions[2]
    await job(worker_ctx, str(conv))
    assert len(_pushes_to(fcm, "tok-offline-" + "x" * 20)) == 1
    assert _pushes_to(fcm, "tok-online-" + "x" * 20) == []
    assert _pushes_to(fcm, "tok-muted-" + "x" * 20) == []
    message = _pushes_to(fcm, "tok-offline-" + "x" * 20)[0]["message"]
    assert "3" in message["notification"]["body"]
    assert message["android"]["collapse_key"] == f"conv:{conv}"
    await job(worker_ctx, str(conv))  # the same job again tells nobody twice
    assert len(fcm.messages) == 1
    center = await factory.fetch("SELECT user_id, push_state FROM notifications")
    assert [(r["user_id"], r["push_state"]) for r in center] == [(offline.id, "sent")]


async def test_quiet_hours_hold_pushes_except_urgent(
    factory: Factory,
    fcm: FcmStandIn,
    worker_ctx: dict[str, Any],
    hub_ctx: HubContext,
    clock: Any,
) -> None:
    """In quiet hours a push is held (still listed in the app); urgent breaks through."""
    org = await factory.org()
    parent = await factory.user("parent", org)
    await _device(factory, parent, "tok-parent-" + "x" * 20)
    # Quiet from an hour ago until two hours from now, on the parent's (UTC) clock.
    await factory.fetch("UPDATE users SET timezone = 'UTC' WHERE id = $1", parent.id)
    await factory.fetch(
        "INSERT INTO notification_preferences (user_id, quiet_start, quiet_end) VALUES ($1,$2,$3)",
        parent.id,
        time((clock.now.hour - 1) % 24),
        time((clock.now.hour + 2) % 24),
    )
    tell = WorkerSettings.functions[3]
    await tell(
        worker_ctx,
        [str(parent.id)],
        "exam_result",
        "결과",
        "시험 결과가 나왔어요",
        {},
        "exam:1",
        False,
    )
    await tell(
        worker_ctx, [str(parent.id)], "proctor_flag", "긴급", "시험 중 경고", {}, "flag:1", True
    )
    assert [m["message"]["notification"]["title"] for m in fcm.messages] == ["긴급"]
    states = {
        r["kind"]: r["push_state"]
        for r in await factory.fetch("SELECT kind, push_state FROM notifications")
    }
    assert states == {"exam_result": "held", "proctor_flag": "sent"}
    clock.advance(hours=3)
    release = WorkerSettings.functions[4]
    assert await release(worker_ctx) == 1
    assert len(fcm.messages) == 2 and "1" in fcm.messages[-1]["message"]["notification"]["body"]


async def test_fcm_503_is_retried_and_delivered_once(
    factory: Factory,
    fcm: FcmStandIn,
    worker_ctx: dict[str, Any],
    settings: Settings,
    hub_ctx: HubContext,
) -> None:
    """A 503 from FCM retries the job; the push is accepted once."""
    parent = await factory.user()
    token = "tok-flaky-" + "x" * 20
    await _device(factory, parent, token)
    fcm.program(token, Behaviour.UNAVAILABLE_ONCE)
    await hub_ctx.jobs.enqueue(
        "notify_users", [str(parent.id)], "link", "t", "b", {}, "l:1", False, job_id="retry-test"
    )
    worker = await _run_worker(settings, worker_ctx)
    assert worker.jobs_complete == 1
    # Two attempts reached FCM: the 503 and the one it accepted, for one notification.
    assert fcm.attempts[token] == 2
    attempts = _pushes_to(fcm, token)
    assert len({m["message"]["data"]["notification_id"] for m in attempts}) == 1
    assert await factory.fetchval("SELECT push_state FROM notifications") == "sent"


async def test_unregistered_token_is_pruned(
    factory: Factory, fcm: FcmStandIn, worker_ctx: dict[str, Any]
) -> None:
    """A token FCM calls unregistered is deleted; a live one on the same user still works."""
    user = await factory.user()
    dead, live = "tok-dead-" + "x" * 20, "tok-live-" + "x" * 20
    await _device(factory, user, dead)
    await _device(factory, user, live)
    fcm.program(dead, Behaviour.UNREGISTERED)
    await WorkerSettings.functions[3](worker_ctx, [str(user.id)], "k", "t", "b", {}, "d:1", False)
    assert [r["token"] for r in await factory.fetch("SELECT token FROM devices")] == [live]
    assert len(_pushes_to(fcm, live)) == 1


async def test_job_that_keeps_failing_is_dead_lettered(
    factory: Factory,
    fcm: FcmStandIn,
    worker_ctx: dict[str, Any],
    settings: Settings,
    hub_ctx: HubContext,
    api: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After its last try a failing job lands in the dead-letter list with its error."""
    user = await factory.user()
    token = "tok-down-" + "x" * 20
    await _device(factory, user, token)
    fcm.program(token, Behaviour.UNAVAILABLE)
    await hub_ctx.jobs.enqueue(
        "notify_users", [str(user.id)], "k", "t", "b", {}, "d:2", False, job_id="dead-test"
    )
    monkeypatch.setattr(base, "MAX_TRIES", 2)  # the one limit, shortened for the test
    await _run_worker(settings, worker_ctx)
    admin = await factory.user(sys_admin=True)
    view = (await api.get("/admin/jobs", headers=admin.headers)).json()
    assert view["queue_depth"] == 0
    (letter,) = view["dead_letters"]
    assert letter["job"] == "notify_users" and letter["tries"] == 2
    assert "RetryLater" in letter["error"]
    assert (await api.get("/admin/jobs", headers=user.headers)).status_code == 403


async def test_same_event_enqueued_twice_is_sent_once(
    factory: Factory,
    fcm: FcmStandIn,
    worker_ctx: dict[str, Any],
    settings: Settings,
    hub_ctx: HubContext,
) -> None:
    """Two enqueues of one event (same job id) run once; the row key would stop a second push."""
    user = await factory.user()
    await _device(factory, user, "tok-once-" + "x" * 20)
    for _ in range(2):
        await hub_ctx.jobs.enqueue(
            "notify_users", [str(user.id)], "k", "t", "b", {}, "d:3", False, job_id="same-event"
        )
    worker = await _run_worker(settings, worker_ctx)
    assert worker.jobs_complete == 1
    await WorkerSettings.functions[3](worker_ctx, [str(user.id)], "k", "t", "b", {}, "d:3", False)
    assert len(fcm.messages) == 1


async def test_announcement_emails_members_who_chose_email(
    connect: Connect,
    factory: Factory,
    fcm: FcmStandIn,
    worker_ctx: dict[str, Any],
    smtpd: tuple[Recorder, int],  # noqa: F811
) -> None:
    """An announcement pushes every offline member and e-mails those who chose e-mail."""
    recorder, port = smtpd
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    mailer, pusher = await factory.user("parent", org), await factory.user("parent", org)
    conv = await factory.conversation("announcement", org, [teacher], [mailer, pusher])
    await factory.fetch(
        "UPDATE participants SET email_enabled = true WHERE user_id = $1", mailer.id
    )
    await _device(factory, pusher, "tok-pusher-" + "x" * 20)
    t = await connect(teacher)
    assert "seq" in await t.call("message.send", _send(conv, "내일 시험 범위가 바뀌었습니다"))
    ctx = {**worker_ctx, "email": EmailSender("127.0.0.1", port, timeout=5)}
    await WorkerSettings.functions[2](ctx, str(conv))
    assert len(_pushes_to(fcm, "tok-pusher-" + "x" * 20)) == 1
    assert [r.rcpt_tos for r in recorder.received] == [[mailer.email]]
    await WorkerSettings.functions[2](ctx, str(conv))
    assert len(recorder.received) == 1  # not twice


async def test_unread_messages_become_one_digest_per_person(
    connect: Connect,
    factory: Factory,
    worker_ctx: dict[str, Any],
    clock: Any,
    smtpd: tuple[Recorder, int],  # noqa: F811
) -> None:
    """Messages unread past the delay give one e-mail per person, listing every conversation."""
    recorder, port = smtpd
    org = await factory.org()
    teacher, parent = await factory.user("teacher", org), await factory.user("parent", org)
    room = await factory.conversation("group", org, [teacher], [parent], title="3학년 1반 학부모")
    direct = await factory.conversation("direct", org, [], [teacher, parent])
    t = await connect(teacher)
    for conv, count in ((room, 3), (direct, 2)):
        for i in range(count):
            assert "seq" in await t.call("message.send", _send(conv, f"안내 {i}"))
    ctx = {**worker_ctx, "email": EmailSender("127.0.0.1", port, timeout=5)}
    digest = WorkerSettings.functions[5]
    assert await digest(ctx) == 0  # not yet: the default delay is an hour
    clock.advance(hours=2)
    assert await digest(ctx) == 1
    (mail,) = recorder.received
    assert mail.rcpt_tos == [parent.email]
    text = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "3학년 1반 학부모" in text and "5" in text
    assert await digest(ctx) == 0  # the same unread messages are not mailed twice


async def test_queue_depth_and_lag_are_metrics(
    hub_server: tuple[str, Any], hub_ctx: HubContext, factory: Factory
) -> None:
    """The job queue's depth and lag appear in /metrics."""
    await hub_ctx.jobs.enqueue(
        "notify_users", [], "k", "t", "b", {}, "m:1", False, job_id="metrics-1"
    )
    async with httpx.AsyncClient(base_url=hub_server[0]) as client:
        text = (await client.get("/metrics")).text
    assert "dreamseed_job_queue_depth 1.0" in text
    assert "dreamseed_job_queue_lag_seconds" in text
