"""The audit log: written inside the transaction of the act it records, read by admins."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hub.accounts.roles import load_roles
from hub.context import Actor, HubContext, RequestMeta
from hub.db import Connection
from hub.errors import forbidden


async def record(
    conn: Connection,
    action: str,
    *,
    actor_id: UUID | None,
    target_type: str | None = None,
    target_id: object = None,
    zone_id: UUID | None = None,
    org_id: UUID | None = None,
    meta: RequestMeta | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO audit_log
               (actor_id, action, target_type, target_id, zone_id, org_id, ip, details)
           VALUES ($1, $2, $3, $4, $5, $6, $7::inet, $8)""",
        actor_id,
        action,
        target_type,
        None if target_id is None else str(target_id),
        zone_id,
        org_id,
        meta.ip if meta else None,
        details or {},
    )


async def list_entries(
    ctx: HubContext,
    actor: Actor,
    *,
    before_id: int | None,
    limit: int,
    action: str | None = None,
    zone_id: UUID | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """Newest first, paged by id. sys_admin sees all; zone_admin their zones (RLS too)."""
    async with ctx.db.acting(actor.user_id) as conn:
        roles = await load_roles(conn, actor.user_id)
        if not (roles.is_sys_admin or roles.admin_zone_ids):
            raise forbidden("Only system and zone administrators may read the audit log")
        rows = await conn.fetch(
            """SELECT id, at, actor_id, action, target_type, target_id, zone_id, org_id,
                      host(ip) AS ip, details
               FROM audit_log
               WHERE ($1::bigint IS NULL OR id < $1)
                 AND ($2::text IS NULL OR action = $2)
                 AND ($3::uuid IS NULL OR zone_id = $3)
               ORDER BY id DESC LIMIT $4""",
            before_id,
            action,
            zone_id,
            limit + 1,
        )
    items = [dict(r) for r in rows[:limit]]
    next_before = items[-1]["id"] if len(rows) > limit else None
    return items, next_before
