"""What the hub tells the workers when something worth a notification happens."""

from __future__ import annotations

from uuid import UUID

from hub.context import HubContext


async def conversation_activity(ctx: HubContext, conversation_id: UUID) -> None:
    """A message was posted: one notification job per conversation per burst window, so a
    burst of messages becomes one push ("3 new messages from Ms. Kim")."""
    window = ctx.settings.notify_burst_s
    now = ctx.clock().timestamp()
    index = int(now // window)
    await ctx.jobs.enqueue(
        "notify_conversation",
        str(conversation_id),
        job_id=f"notify-conv:{conversation_id}:{index}",
        defer_s=(index + 1) * window - now,
    )


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
