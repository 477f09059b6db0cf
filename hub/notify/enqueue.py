"""What the hub tells the workers when something worth a notification happens."""

from __future__ import annotations

import time
from uuid import UUID

from hub.context import HubContext

# A window this process knows is open is trusted until this long before it closes, which is
# far more than the round trip that measured it: a message near the end asks Redis again.
_WINDOW_MARGIN_S = 0.25
_WINDOWS_MAX = 50_000


class OpenWindows:
    """The burst windows this process knows are open, and until when (monotonic seconds).

    While a conversation's window is open every further message is told by the job it
    queued, so the hub need not ask Redis per message (one SET NX per message was most of
    the send path's Redis work after the rate limit)."""

    def __init__(self) -> None:
        self._until: dict[UUID, float] = {}

    def covers(self, conversation_id: UUID, now: float) -> bool:
        return self._until.get(conversation_id, 0.0) - _WINDOW_MARGIN_S > now

    def remember(self, conversation_id: UUID, until: float) -> None:
        if len(self._until) >= _WINDOWS_MAX:
            now = time.monotonic()
            self._until = {c: t for c, t in self._until.items() if t > now}
        self._until[conversation_id] = until


def _windows(ctx: HubContext) -> OpenWindows:
    try:
        return ctx.components.get(OpenWindows)
    except LookupError:
        ctx.components.add(OpenWindows())
        return ctx.components.get(OpenWindows)


async def conversation_activity(ctx: HubContext, conversation_id: UUID) -> None:
    """A message was posted: one notification job per burst, so a burst of messages becomes
    one push ("3 new messages from Ms. Kim").

    The burst's window opens with its first message (a Redis key set only if absent, living
    for the window, shared by every hub process) and that message alone queues the job, due
    when the window closes. The job's id names the window, so a worker that restarts runs it
    once; a message arriving as the window closes opens the next one, whose job finds nothing
    left to tell if the first job already covered it (dispatch records per seq).

    A window this process opened or saw open (`OpenWindows`) answers without Redis until
    shortly before it closes: the message is committed before this runs, and the window's
    job runs only once the window has closed, so it tells the message.
    """
    windows = _windows(ctx)
    asked = time.monotonic()
    if windows.covers(conversation_id, asked):
        return
    window = ctx.settings.notify_burst_s
    opened_ms = int(ctx.clock().timestamp() * 1000)
    key = ctx.keys.push_burst(conversation_id)
    async with ctx.redis.pipeline(transaction=False) as pipe:
        pipe.set(key, opened_ms, nx=True, px=max(1, int(window * 1000)))
        pipe.pttl(key)
        opened, left_ms = await pipe.execute()
    if not opened:
        if left_ms > 0:  # a burst is open: its job will tell this message too
            windows.remember(conversation_id, asked + left_ms / 1000)
        return
    try:
        await ctx.jobs.enqueue(
            "notify_conversation",
            str(conversation_id),
            job_id=f"notify-conv:{conversation_id}:{opened_ms}",
            defer_s=window,
        )
    except BaseException:
        await ctx.redis.delete(key)  # no job: the next message must open the window again
        raise
    windows.remember(conversation_id, asked + window)


async def tell_users(
    ctx: HubContext,
    user_ids: list[UUID],
    *,
    kind: str,
    title: str,
    body: str,
    data: dict[str, str],
    dedup_key: str,
    urgent: bool = False,
) -> None:
    """A notification for named people (parent alerts, link requests): sent once per key."""
    await ctx.jobs.enqueue(
        "notify_users",
        [str(u) for u in user_ids],
        kind,
        title,
        body,
        data,
        dedup_key,
        urgent,
        job_id=f"notify-users:{kind}:{dedup_key}",
    )
