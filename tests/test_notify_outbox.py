"""The notification outbox: a push owed for a stored message survives Redis losing its job
(real hub, real arq worker in burst mode, firebase-admin against an FCM stand-in)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import httpx
import pytest
from arq.connections import RedisSettings
from redis.asyncio import Redis

from hub.context import HubContext
from hub.notify import dispatch
from hub.settings import Settings
from tests.burst import run_burst
from tests.fcm_standin import FcmStandIn
from tests.support import Factory, User, cmid
from workers.notify_jobs import notify_conversation, sweep_notify_outbox


@pytest.fixture(scope="module")
def fcm() -> Iterator[FcmStandIn]:
    standin = FcmStandIn().start()
    yield standin
    standin.stop()


async def _offline_parent_chat(factory: Factory, token: str) -> tuple[User, UUID]:
    org = await factory.org()
    teacher, parent = await factory.user("teacher", org), await factory.user("parent", org)
    conv = await factory.conversation("group", org, [teacher], [parent])
    await factory.fetch(
        "INSERT INTO devices (token, user_id, platform) VALUES ($1, $2, 'android')",
        token,
        parent.id,
    )
    return teacher, conv


async def _lose_redis(redis: Redis, namespace: str) -> None:
    """What a Redis restarted empty leaves of this hub's keys: nothing."""
    keys = [k async for k in redis.scan_iter(match=f"{namespace}:*", count=1000)]
    keys += [k async for k in redis.scan_iter(match=f"arq:*{namespace}:*", count=1000)]
    if keys:
        await redis.delete(*keys)


async def test_a_push_job_lost_with_redis_is_queued_again_and_sent_once(
    api: httpx.AsyncClient,
    factory: Factory,
    fcm: FcmStandIn,
    worker_ctx: dict[str, Any],
    hub_ctx: HubContext,
    redis: Redis,
    settings: Settings,
) -> None:
    """Redis loses the queued job; once the conversation is quiet past the burst window the
    sweep queues it again, the worker pushes once, and a later sweep owes nothing."""
    token = "tok-outbox-" + "x" * 24
    teacher, conv = await _offline_parent_chat(factory, token)
    sent = await api.post(
        f"/conversations/{conv}/messages",
        headers=teacher.headers,
        json={"client_msg_id": cmid(), "content": "준비물 안내"},
    )
    assert sent.status_code == 201, sent.text
    await _lose_redis(redis, settings.redis_namespace)
    assert await sweep_notify_outbox(worker_ctx) == 0  # still inside its burst window
    after = settings.notify_sweep_after_s + 1
    await factory.fetch(
        "UPDATE conversations SET last_message_at = now() - make_interval(secs => $2) "
        "WHERE id = $1",
        conv,
        after,
    )
    assert await sweep_notify_outbox(worker_ctx) == 1
    assert settings.redis_url
    worker = await run_burst(
        RedisSettings.from_dsn(settings.redis_url), hub_ctx.keys.job_queue, worker_ctx
    )
    assert worker.jobs_complete >= 1 and worker.jobs_failed == 0
    assert [m["message"]["token"] for m in fcm.messages].count(token) == 1
    assert await sweep_notify_outbox(worker_ctx) == 0
    owed = await factory.fetch(
        "SELECT last_seq - notified_seq AS owed FROM conversations WHERE id = $1", conv
    )
    assert owed[0]["owed"] == 0


async def test_a_push_recorded_but_never_sent_is_sent_by_the_sweep(
    api: httpx.AsyncClient,
    factory: Factory,
    fcm: FcmStandIn,
    worker_ctx: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker dies between recording the notification and calling FCM: the job's retry
    finds nothing left to record, and the sweep sends the pending push, once."""
    token = "tok-pending-" + "x" * 24
    teacher, conv = await _offline_parent_chat(factory, token)
    sent = await api.post(
        f"/conversations/{conv}/messages",
        headers=teacher.headers,
        json={"client_msg_id": cmid(), "content": "현장학습 동의서"},
    )
    assert sent.status_code == 201, sent.text
    deliver = dispatch.deliver

    async def killed(*args: Any) -> int:
        raise asyncio.CancelledError  # what the job sees of a SIGKILL: it stops here

    monkeypatch.setattr(dispatch, "deliver", killed)
    with pytest.raises(asyncio.CancelledError):
        await notify_conversation(worker_ctx, str(conv))
    monkeypatch.setattr(dispatch, "deliver", deliver)
    assert await notify_conversation(worker_ctx, str(conv)) == 0  # the retry: nothing new
    assert await sweep_notify_outbox(worker_ctx) == 0  # young: a job may still be sending it
    await factory.fetch(
        "UPDATE notifications SET created_at = now() - interval '1 minute' "
        "WHERE push_state = 'pending'"
    )
    assert await sweep_notify_outbox(worker_ctx) == 1
    assert await sweep_notify_outbox(worker_ctx) == 0
    assert [m["message"]["token"] for m in fcm.messages].count(token) == 1
