"""A burst of messages gives one push wherever it falls on the clock: its window opens with its
first message (real hub, real worker job, firebase-admin against an FCM stand-in)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from hub.context import HubContext
from tests.fcm_standin import FcmStandIn
from tests.support import Factory, FrozenClock, cmid
from workers.notify_jobs import notify_conversation


@pytest.fixture(scope="module")
def fcm() -> Iterator[FcmStandIn]:
    standin = FcmStandIn().start()
    yield standin
    standin.stop()


@pytest.mark.parametrize(
    "into_slot", [0.0, 2.5, 4.95], ids=["on-a-slot", "mid-slot", "at-slot-end"]
)
async def test_three_message_burst_gives_one_push_wherever_it_falls(
    api: httpx.AsyncClient,
    factory: Factory,
    fcm: FcmStandIn,
    worker_ctx: dict[str, Any],
    hub_ctx: HubContext,
    clock: FrozenClock,
    into_slot: float,
) -> None:
    """Three messages 0.1 s apart, starting anywhere in a 5 s clock slot, queue one job and
    give the offline parent one push; the job run again (a restarted worker) sends nothing."""
    window = hub_ctx.settings.notify_burst_s
    assert window == 5
    slot = int(datetime.now(UTC).timestamp() // window) * window
    clock.now = datetime.fromtimestamp(slot + into_slot, UTC)
    org = await factory.org()
    teacher, parent = await factory.user("teacher", org), await factory.user("parent", org)
    conv = await factory.conversation("group", org, [teacher], [parent])
    token = "tok-burst-" + "x" * 24
    await factory.fetch(
        "INSERT INTO devices (token, user_id, platform) VALUES ($1, $2, 'android')",
        token,
        parent.id,
    )
    for text in ("내일 준비물", "체육복", "물통"):
        sent = await api.post(
            f"/conversations/{conv}/messages",
            headers=teacher.headers,
            json={"client_msg_id": cmid(), "content": text},
        )
        assert sent.status_code == 201, sent.text
        clock.advance(seconds=0.1)
    queued = await hub_ctx.redis.zrange(hub_ctx.keys.job_queue, 0, -1)
    assert len([q for q in queued if str(conv).encode() in q]) == 1
    assert await notify_conversation(worker_ctx, str(conv)) == 1
    assert await notify_conversation(worker_ctx, str(conv)) == 0
    pushes = [m for m in fcm.messages if m["message"]["token"] == token]
    assert len(pushes) == 1 and "3" in pushes[0]["message"]["notification"]["body"]


async def test_a_window_whose_job_was_not_queued_opens_again(
    api: httpx.AsyncClient,
    factory: Factory,
    hub_ctx: HubContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If queueing the burst's job fails, its window closes with it: the next message queues."""
    org = await factory.org()
    teacher, parent = await factory.user("teacher", org), await factory.user("parent", org)
    conv = await factory.conversation("group", org, [teacher], [parent])
    enqueue = hub_ctx.jobs.enqueue

    async def down(*args: Any, **kwargs: Any) -> bool:
        raise ConnectionError("queue unavailable")

    monkeypatch.setattr(hub_ctx.jobs, "enqueue", down)
    body = {"client_msg_id": cmid(), "content": "첫 메시지"}
    stored = await api.post(f"/conversations/{conv}/messages", headers=teacher.headers, json=body)
    # Stored is what the ack promises (hub/outages.py); the push job is what went missing.
    assert stored.status_code == 201, stored.text
    assert await hub_ctx.redis.exists(hub_ctx.keys.push_burst(conv)) == 0
    monkeypatch.setattr(hub_ctx.jobs, "enqueue", enqueue)
    body = {"client_msg_id": cmid(), "content": "두 번째"}
    sent = await api.post(f"/conversations/{conv}/messages", headers=teacher.headers, json=body)
    assert sent.status_code == 201, sent.text
    queued = await hub_ctx.redis.zrange(hub_ctx.keys.job_queue, 0, -1)
    assert len([q for q in queued if str(conv).encode() in q]) == 1
