"""Phones and browsers that receive pushes."""

from __future__ import annotations

from typing import Any

from hub.context import Actor, HubContext
from hub.db import fetch_returning


async def register_device(
    ctx: HubContext, actor: Actor, platform: str, token: str
) -> dict[str, Any]:
    """Remember a device token for the caller's session (a token moves with its owner)."""
    async with ctx.db.system() as conn:
        # A token belongs to one install: if another account had it, that account lost it.
        row = await fetch_returning(
            conn,
            """INSERT INTO devices (token, user_id, session_id, platform)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (token) DO UPDATE SET user_id = EXCLUDED.user_id,
                   session_id = EXCLUDED.session_id, platform = EXCLUDED.platform,
                   last_seen_at = now()
               RETURNING token, platform, created_at, last_seen_at""",
            token,
            actor.user_id,
            actor.session_id,
            platform,
        )
    return dict(row)


async def remove_device(ctx: HubContext, actor: Actor, token: str) -> bool:
    async with ctx.db.acting(actor.user_id) as conn:
        done = await conn.execute("DELETE FROM devices WHERE token = $1", token)
    return done != "DELETE 0"


async def remove_session_devices(ctx: HubContext, actor: Actor) -> None:
    """On logout: the signed-out install must stop receiving this user's pushes."""
    async with ctx.db.acting(actor.user_id) as conn:
        await conn.execute("DELETE FROM devices WHERE session_id = $1", actor.session_id)


async def prune_tokens(ctx: HubContext, tokens: list[str]) -> int:
    """Tokens FCM called unregistered or invalid are deleted, whoever owned them."""
    if not tokens:
        return 0
    async with ctx.db.system() as conn:
        done = await conn.execute("DELETE FROM devices WHERE token = ANY($1::text[])", tokens)
    return int(done.split()[-1])
