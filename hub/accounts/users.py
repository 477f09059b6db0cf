"""The signed-in user's own profile."""

from __future__ import annotations

from typing import Any

from hub.accounts import audit
from hub.accounts.sessions import mark_session_revoked
from hub.context import Actor, HubContext, RequestMeta
from hub.db import Connection
from hub.errors import DomainError, ErrorCode, not_found
from hub.passwords import hash_password, verify_password
from schema.models.accounts import UpdateMeRequest


async def get_me(ctx: HubContext, actor: Actor) -> dict[str, Any]:
    async with ctx.db.acting(actor.user_id) as conn:
        return await _profile(conn, actor)


async def _profile(conn: Connection, actor: Actor) -> dict[str, Any]:
    row = await conn.fetchrow(
        """SELECT id, email, display_name, language, timezone, is_sys_admin, created_at,
                  coalesce((SELECT array_agg(zone_id) FROM zone_admins z WHERE z.user_id = u.id),
                           '{}') AS admin_zone_ids
           FROM users u WHERE id = $1 AND deleted_at IS NULL""",
        actor.user_id,
    )
    if row is None:
        raise not_found("User")
    memberships = await conn.fetch(
        "SELECT org_id, zone_id, role::text FROM memberships "
        "WHERE user_id = $1 ORDER BY created_at",
        actor.user_id,
    )
    return {**dict(row), "memberships": [dict(m) for m in memberships]}


async def update_me(
    ctx: HubContext, actor: Actor, body: UpdateMeRequest, meta: RequestMeta
) -> dict[str, Any]:
    """Change profile fields; a password change signs out every other session."""
    changes = body.model_dump(exclude_none=True, include={"display_name", "language", "timezone"})
    new_hash = None
    if body.new_password is not None:
        async with ctx.db.acting(actor.user_id) as conn:
            current = await conn.fetchval(
                "SELECT password_hash FROM users WHERE id = $1", actor.user_id
            )
        if not await verify_password(current, body.current_password or ""):
            raise DomainError(
                ErrorCode.INVALID_CREDENTIALS,
                "The current password is wrong",
                field="current_password",
            )
        new_hash = await hash_password(body.new_password)
    async with ctx.db.acting(actor.user_id) as conn:
        if changes:
            assignments = ", ".join(f"{col} = ${i}" for i, col in enumerate(changes, start=2))
            await conn.execute(
                f"UPDATE users SET {assignments}, updated_at = now() WHERE id = $1",  # noqa: S608
                actor.user_id,
                *changes.values(),
            )
        revoked = []
        if new_hash is not None:
            await conn.execute(
                "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
                actor.user_id,
                new_hash,
            )
            revoked = await conn.fetch(
                """UPDATE sessions SET revoked_at = now(), revoked_reason = 'password_changed'
                   WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL RETURNING id""",
                actor.user_id,
                actor.session_id,
            )
            await audit.record(
                conn,
                "user.password_changed",
                actor_id=actor.user_id,
                target_type="user",
                target_id=actor.user_id,
                meta=meta,
            )
        profile = await _profile(conn, actor)
    for r in revoked:
        await mark_session_revoked(ctx, actor.user_id, r["id"], "password_changed")
    return profile
