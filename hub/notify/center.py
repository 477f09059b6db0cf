"""The in-app notification center: everything a user was sent, with an unread badge."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hub.context import Actor, HubContext
from hub.db import Connection
from hub.errors import not_found

_COLUMNS = "id, kind, title, body, data, urgent, created_at, read_at"


async def list_notifications(
    ctx: HubContext, actor: Actor, *, before: Any, limit: int, unread_only: bool
) -> tuple[list[dict[str, Any]], int]:
    async with ctx.db.acting(actor.user_id) as conn:
        rows = await conn.fetch(
            f"""SELECT {_COLUMNS} FROM notifications
                WHERE user_id = $1 AND ($2::timestamptz IS NULL OR created_at < $2)
                  AND (NOT $3 OR read_at IS NULL)
                ORDER BY created_at DESC, id DESC LIMIT $4""",  # noqa: S608
            actor.user_id,
            before,
            unread_only,
            limit,
        )
        unread = await unread_count(conn, actor.user_id)
    return [dict(r) for r in rows], unread


async def unread_count(conn: Connection, user_id: UUID) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL", user_id
    )
    return count


async def mark_read(ctx: HubContext, actor: Actor, notification_id: UUID | None) -> int:
    """Mark one (or, with None, every) notification read; the badge follows on every device."""
    async with ctx.db.acting(actor.user_id) as conn:
        done = await conn.execute(
            """UPDATE notifications SET read_at = now()
               WHERE user_id = $1 AND read_at IS NULL AND ($2::uuid IS NULL OR id = $2)""",
            actor.user_id,
            notification_id,
        )
        if notification_id is not None and done == "UPDATE 0":
            exists = await conn.fetchval(
                "SELECT 1 FROM notifications WHERE id = $1", notification_id
            )
            if not exists:
                raise not_found("Notification")
        unread = await unread_count(conn, actor.user_id)
    await ctx.bus.to_user(actor.user_id, "notification.badge", {"unread": unread})
    return unread
