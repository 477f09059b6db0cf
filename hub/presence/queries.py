"""Presence as the product shows it: to direct contacts on change, to anyone visible on ask."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from hub.clock import wire_time
from hub.context import Actor, HubContext


async def contacts_of(ctx: HubContext, user_id: UUID) -> list[UUID]:
    """The people who share a direct conversation with the user: they see changes live."""
    async with ctx.db.acting(user_id) as conn:
        rows = await conn.fetch(
            """SELECT DISTINCT other.user_id FROM participants mine
               JOIN conversations c ON c.id = mine.conversation_id AND c.kind = 'direct'
               JOIN participants other ON other.conversation_id = c.id
                    AND other.user_id <> mine.user_id AND other.left_at IS NULL
               WHERE mine.user_id = $1 AND mine.left_at IS NULL""",
            user_id,
        )
    return [r["user_id"] for r in rows]


async def announce(
    ctx: HubContext, user_id: UUID, online: bool, contacts: list[UUID] | None = None
) -> None:
    """Tell the user's direct contacts (looked up unless the caller already has them)."""
    event = "user.online" if online else "user.offline"
    payload: dict[str, Any] = {"user_id": str(user_id)}
    if not online:
        payload["last_seen"] = _iso(int(ctx.clock().timestamp() * 1000))
    for contact in contacts if contacts is not None else await contacts_of(ctx, user_id):
        await ctx.bus.to_user(contact, event, payload)


async def presence_of(ctx: HubContext, actor: Actor, user_ids: list[UUID]) -> dict[str, Any]:
    """Online state and last seen of the users the caller may see (others are left out)."""
    async with ctx.db.acting(actor.user_id) as conn:
        visible = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM users WHERE id = ANY($1::uuid[])", list(set(user_ids))
            )
        ]
    states = await ctx.presence.states(visible, int(ctx.clock().timestamp() * 1000))
    return {
        "users": {
            str(uid): {
                "online": s.online,
                "last_seen": _iso(s.last_seen_ms) if s.last_seen_ms else None,
            }
            for uid, s in states.items()
        }
    }


def _iso(ms: int) -> str:
    return wire_time(datetime.fromtimestamp(ms / 1000, UTC))
