"""Platform administrators: the first system admin (from the command line) and zone admins
(granted by a system admin through the API), so nobody needs SQL to run the platform."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from hub.accounts import audit
from hub.accounts.roles import load_roles
from hub.context import Actor, HubContext, RequestMeta
from hub.db import Connection, Database
from hub.errors import forbidden, not_found
from hub.passwords import hash_password


@dataclass(frozen=True)
class CreatedAdmin:
    user_id: UUID
    created: bool  # False: an existing account was made a system administrator


async def create_sys_admin(
    db: Database, email: str, password: str | None, display_name: str
) -> CreatedAdmin:
    """`dreamseed createadmin`: make (or promote) a system administrator. The command line is
    the operator's own access to the database, so this runs as the system."""
    email = email.strip().lower()
    async with db.system() as conn:
        existing = await conn.fetchval(
            "SELECT id FROM users WHERE email = $1 AND deleted_at IS NULL", email
        )
        if existing is not None:
            await conn.execute("UPDATE users SET is_sys_admin = true WHERE id = $1", existing)
            await _audit_promotion(conn, existing)
            return CreatedAdmin(existing, created=False)
        if not password:
            raise ValueError(f"No account has the e-mail '{email}': give a password to create it")
        user_id: UUID = await conn.fetchval(
            """INSERT INTO users (email, password_hash, display_name, is_sys_admin)
               VALUES ($1, $2, $3, true) RETURNING id""",
            email,
            await hash_password(password),
            display_name,
        )
        await _audit_promotion(conn, user_id)
        return CreatedAdmin(user_id, created=True)


async def _audit_promotion(conn: Connection, user_id: UUID) -> None:
    await audit.record(
        conn,
        "sys_admin.grant",
        actor_id=None,
        target_type="user",
        target_id=user_id,
        details={"by": "command line"},
    )


async def _require_sys_admin(conn: Connection, actor: Actor) -> None:
    if not (await load_roles(conn, actor.user_id)).is_sys_admin:
        raise forbidden("Only system administrators manage zone administrators")


async def _zone(conn: Connection, zone_id: UUID) -> None:
    if not await conn.fetchval("SELECT 1 FROM zones WHERE id = $1", zone_id):
        raise not_found("Zone")


async def grant_zone_admin(
    ctx: HubContext, actor: Actor, zone_id: UUID, user_id: UUID, meta: RequestMeta
) -> dict[str, Any]:
    """A system administrator makes a user an administrator of a zone (idempotent)."""
    async with ctx.db.acting(actor.user_id) as conn:
        await _require_sys_admin(conn, actor)
        await _zone(conn, zone_id)
        if not await conn.fetchval(
            "SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL", user_id
        ):
            raise not_found("User")
        added = await conn.fetchval(
            """INSERT INTO zone_admins (zone_id, user_id) VALUES ($1, $2)
               ON CONFLICT DO NOTHING RETURNING true""",
            zone_id,
            user_id,
        )
        if added:
            await audit.record(
                conn,
                "zone_admin.grant",
                actor_id=actor.user_id,
                target_type="user",
                target_id=user_id,
                zone_id=zone_id,
                meta=meta,
            )
    return {"zone_id": zone_id, "user_id": user_id}


async def revoke_zone_admin(
    ctx: HubContext, actor: Actor, zone_id: UUID, user_id: UUID, meta: RequestMeta
) -> None:
    async with ctx.db.acting(actor.user_id) as conn:
        await _require_sys_admin(conn, actor)
        removed = await conn.fetchval(
            "DELETE FROM zone_admins WHERE zone_id = $1 AND user_id = $2 RETURNING true",
            zone_id,
            user_id,
        )
        if not removed:
            raise not_found("Zone administrator")
        await audit.record(
            conn,
            "zone_admin.revoke",
            actor_id=actor.user_id,
            target_type="user",
            target_id=user_id,
            zone_id=zone_id,
            meta=meta,
        )


async def list_zone_admins(ctx: HubContext, actor: Actor, zone_id: UUID) -> list[dict[str, Any]]:
    async with ctx.db.acting(actor.user_id) as conn:
        await _require_sys_admin(conn, actor)
        await _zone(conn, zone_id)
        rows = await conn.fetch(
            """SELECT z.zone_id, z.user_id FROM zone_admins z JOIN users u ON u.id = z.user_id
               WHERE z.zone_id = $1 AND u.deleted_at IS NULL ORDER BY u.display_name""",
            zone_id,
        )
    return [dict(r) for r in rows]
