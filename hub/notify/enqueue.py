"""What the hub tells the workers when something worth a notification happens."""

from __future__ import annotations

from uuid import UUID

from hub.context import HubContext


async def conversation_activity(ctx: HubContext, conversation_id: UUID) -> None:
    """A message was posted: one notification job per burst, so a burst of messages becomes
    one push ("3 new messages from Ms. Kim").

    The burst's window opens with its first message (a Redis key set only if absent, living
    for the window, shared by every hub process) and that message alone queues the job, due
    when the window closes. The job's id names the window, so a worker that restarts runs it
    once; a message arriving as the window closes opens the next one, whose job finds nothing
    left to tell if the first job already covered it (dispatch records per seq).
    """
    window = ctx.settings.notify_burst_s
    opened_ms = int(ctx.clock().timestamp() * 1000)
    key = ctx.keys.push_burst(conversation_id)
    if not await ctx.redis.set(key, opened_ms, nx=True, px=max(1, int(window * 1000))):
        return  # a burst is open: its job will tell this message too
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
