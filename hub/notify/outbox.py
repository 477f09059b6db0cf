"""The notification outbox, kept in PostgreSQL without a row per message.

A stored message is an intent to notify; the push job that carries it lives in Redis (arq),
which can lose it: Redis restarted empty, a hub killed between the commit and the enqueue, a
worker killed between recording a push and sending it. The intent itself is already durable:
`conversations.last_seq` says what was posted and `conversations.notified_seq` (advanced by
the job, hub/notify/dispatch.py) what was told. The worker's sweeper compares the two and
queues the job again for every conversation that lags past the burst window, and hands FCM
the pushes that were recorded but never sent. The send path writes nothing more for this.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from hub.context import HubContext
from hub.notify import dispatch
from hub.notify.push import PushSender

logger = logging.getLogger("dreamseed.notify")
# Per sweep, so one sweep stays short however much was lost; the next sweep takes the rest.
SWEEP_LIMIT = 500
# Recorded pushes older than this and still pending were lost (a job sends them within
# seconds); younger ones may be in the hands of a running job.
PENDING_AFTER_S = 30.0
# Older intents are not chased any more: after a day a push about a message is noise.
HORIZON_S = 86_400.0


@dataclass(frozen=True)
class Sweep:
    requeued: int
    redelivered: int


async def lagging(ctx: HubContext, after_s: float, limit: int = SWEEP_LIMIT) -> list[Any]:
    """Conversations with messages nobody was told about, quiet for `after_s` seconds.

    Only quiet ones: a conversation that is still busy opens a new burst (and queues its job)
    with its next message, which tells everything up to then."""
    async with ctx.db.system() as conn:
        return await conn.fetch(
            """SELECT id, last_seq FROM conversations
               WHERE notified_seq < last_seq
                 AND last_message_at < now() - make_interval(secs => $1)
                 AND last_message_at > now() - make_interval(secs => $2)
               ORDER BY last_message_at LIMIT $3""",
            after_s,
            HORIZON_S,
            limit,
        )


async def sweep(ctx: HubContext, sender: PushSender) -> Sweep:
    """Queue the notification job of every lagging conversation; push what was left pending."""
    rows = await lagging(ctx, ctx.settings.notify_sweep_after_s)
    # The job id names what is owed, which Redis holds it and the minute: arq refuses a
    # second copy while one is queued or its result is kept, a Redis that restarted (a new
    # run_id) gets the job again whatever this process remembers having queued, and a job
    # that failed outside the retry wrapper (arq's own timeout) is tried again a minute
    # later, not after the hour arq keeps its result. A conversation whose job keeps
    # failing costs one job a minute until HORIZON_S.
    run_id = str((await ctx.redis.info("server")).get("run_id", ""))[:12]
    minute = int(ctx.clock().timestamp() // 60)
    requeued = 0
    for row in rows:
        if await ctx.jobs.enqueue(
            "notify_conversation",
            str(row["id"]),
            job_id=f"notify-sweep:{row['id']}:{row['last_seq']}:{run_id}:{minute}",
        ):
            requeued += 1
    if requeued:
        logger.warning("notification outbox: re-queued %d lost conversation jobs", requeued)
    return Sweep(requeued, await _redeliver(ctx, sender))


async def _redeliver(ctx: HubContext, sender: PushSender) -> int:
    async with ctx.db.system() as conn:
        keys = await conn.fetch(
            """SELECT DISTINCT dedup_key FROM notifications
               WHERE push_state = 'pending'
                 AND created_at < now() - make_interval(secs => $1)
                 AND created_at > now() - make_interval(secs => $2)
               LIMIT $3""",
            PENDING_AFTER_S,
            HORIZON_S,
            SWEEP_LIMIT,
        )
    pushed = 0
    for key in keys:
        try:
            pushed += await dispatch.deliver(ctx, sender, key["dedup_key"])
        except dispatch.RetryLater:
            continue  # FCM asked for time: the next sweep tries again
    return pushed
