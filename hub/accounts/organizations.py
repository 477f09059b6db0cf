"""Zones, organizations, their members and classes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from hub.accounts import audit
from hub.accounts.roles import load_roles
from hub.context import Actor, HubContext, RequestMeta
from hub.db import Connection
from hub.errors import DomainError, ErrorCode, forbidden, not_found
from schema.models.accounts import (
    ClassCreate,
    MemberAdd,
    OrganizationCreate,
    OrganizationSettings,
)

_ORG_COLUMNS = """o.id, o.zone_id, o.name, o.kind, o.created_at,
                  (SELECT count(DISTINCT user_id) FROM memberships m WHERE m.org_id = o.id)
                      AS member_count"""


async def list_zones(ctx: HubContext) -> list[dict[str, Any]]:
    async with ctx.db.anonymous() as conn:
        return [dict(r) for r in await conn.fetch("SELECT id, slug, name FROM zones ORDER BY slug")]


async def create_organization(
    ctx: HubContext, actor: Actor, body: OrganizationCreate, meta: RequestMeta
) -> dict[str, Any]:
    """Zone and system administrators create organizations in their zones."""
    async with ctx.db.acting(actor.user_id) as conn:
        roles = await load_roles(conn, actor.user_id)
        if not await conn.fetchval("SELECT 1 FROM zones WHERE id = $1", body.zone_id):
            raise not_found("Zone")
        if not roles.can_create_org(body.zone_id):
            raise forbidden("Only administrators of this zone may create organizations")
        org_id = await conn.fetchval(
            """INSERT INTO organizations (zone_id, name, kind, created_by)
               VALUES ($1, $2, $3, $4) RETURNING id""",
            body.zone_id,
            body.name,
            body.kind,
            actor.user_id,
        )
        await audit.record(
            conn,
            "organization.create",
            actor_id=actor.user_id,
            target_type="organization",
            target_id=org_id,
            zone_id=body.zone_id,
            org_id=org_id,
            meta=meta,
            details={"name": body.name},
        )
        return await _org_row(conn, org_id)


async def get_organization(ctx: HubContext, actor: Actor, org_id: UUID) -> dict[str, Any]:
    async with ctx.db.acting(actor.user_id) as conn:
        return await _org_row(conn, org_id)


async def _org_row(conn: Connection, org_id: UUID) -> dict[str, Any]:
    # RLS hides other tenants' organizations: not-a-member and does-not-exist look the same.
    row = await conn.fetchrow(f"SELECT {_ORG_COLUMNS} FROM organizations o WHERE o.id = $1", org_id)  # noqa: S608
    if row is None:
        raise not_found("Organization")
    return dict(row)


async def _managed_org(conn: Connection, actor: Actor, org_id: UUID, what: str) -> dict[str, Any]:
    """The organization, if the caller administers it (org, zone or system admin)."""
    org = await _org_row(conn, org_id)
    if not (await load_roles(conn, actor.user_id)).can_manage_org(org_id, org["zone_id"]):
        raise forbidden(f"Only administrators of this organization may {what}")
    return org


async def add_member(
    ctx: HubContext, actor: Actor, org_id: UUID, body: MemberAdd, meta: RequestMeta
) -> dict[str, Any]:
    """Give a member of the organization another role (org, zone or system administrators).

    Only people already in the organization: newcomers join by redeeming an invitation
    (hub/accounts/invitations.py), their consent, instead of being found by e-mail across
    schools. Everything runs as the acting admin, inside the tenant wall.
    """
    async with ctx.db.acting(actor.user_id) as conn:
        org = await _managed_org(conn, actor, org_id, "add members")
        member = await conn.fetchrow(
            """SELECT u.id, u.display_name FROM users u
               WHERE u.id = $1 AND u.deleted_at IS NULL
                 AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id
                             AND m.org_id = $2)""",
            body.user_id,
            org_id,
        )
        if member is None:
            raise DomainError(
                ErrorCode.NOT_FOUND,
                "User was not found among this organization's members: invite newcomers",
                field="user_id",
            )
        try:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO memberships (org_id, zone_id, user_id, role) "
                    "VALUES ($1, $2, $3, $4)",
                    org_id,
                    org["zone_id"],
                    member["id"],
                    body.role.value,
                )
        except asyncpg.UniqueViolationError:
            raise DomainError(
                ErrorCode.CONFLICT, f"This user is already a {body.role} here"
            ) from None
        await audit.record(
            conn,
            "membership.grant",
            actor_id=actor.user_id,
            target_type="user",
            target_id=member["id"],
            zone_id=org["zone_id"],
            org_id=org_id,
            meta=meta,
            details={"role": body.role.value},
        )
    return {
        "org_id": org_id,
        "user_id": member["id"],
        "role": body.role,
        "display_name": member["display_name"],
    }


async def list_members(ctx: HubContext, actor: Actor, org_id: UUID) -> list[dict[str, Any]]:
    async with ctx.db.acting(actor.user_id) as conn:
        await _org_row(conn, org_id)
        rows = await conn.fetch(
            """SELECT m.org_id, m.user_id, m.role::text, u.display_name
               FROM memberships m JOIN users u ON u.id = m.user_id
               WHERE m.org_id = $1 AND u.deleted_at IS NULL
               ORDER BY u.display_name, m.role""",
            org_id,
        )
    return [dict(r) for r in rows]


async def create_class(
    ctx: HubContext, actor: Actor, org_id: UUID, body: ClassCreate, meta: RequestMeta
) -> dict[str, Any]:
    async with ctx.db.acting(actor.user_id) as conn:
        org = await _org_row(conn, org_id)
        roles = await load_roles(conn, actor.user_id)
        if not (roles.can_manage_org(org_id, org["zone_id"]) or roles.holds_teacher(org_id)):
            raise forbidden("Only teachers and administrators may create classes")
        try:
            async with conn.transaction():
                class_id = await conn.fetchval(
                    "INSERT INTO classes (org_id, zone_id, name) VALUES ($1, $2, $3) RETURNING id",
                    org_id,
                    org["zone_id"],
                    body.name,
                )
        except asyncpg.UniqueViolationError:
            raise DomainError(
                ErrorCode.CONFLICT, "A class with this name already exists", field="name"
            ) from None
        await audit.record(
            conn,
            "class.create",
            actor_id=actor.user_id,
            target_type="class",
            target_id=class_id,
            zone_id=org["zone_id"],
            org_id=org_id,
            meta=meta,
        )
    return {"id": class_id, "org_id": org_id, "name": body.name, "member_count": 0}


async def list_classes(ctx: HubContext, actor: Actor, org_id: UUID) -> list[dict[str, Any]]:
    async with ctx.db.acting(actor.user_id) as conn:
        await _org_row(conn, org_id)
        rows = await conn.fetch(
            """SELECT c.id, c.org_id, c.name,
                      (SELECT count(*) FROM class_members cm WHERE cm.class_id = c.id)
                          AS member_count
               FROM classes c WHERE c.org_id = $1 ORDER BY c.name""",
            org_id,
        )
    return [dict(r) for r in rows]


async def get_settings(ctx: HubContext, actor: Actor, org_id: UUID) -> dict[str, Any]:
    async with ctx.db.acting(actor.user_id) as conn:
        await _org_row(conn, org_id)
        settings = await conn.fetchval("SELECT settings FROM organizations WHERE id = $1", org_id)
    return dict(settings or {})


async def update_settings(
    ctx: HubContext, actor: Actor, org_id: UUID, body: OrganizationSettings, meta: RequestMeta
) -> dict[str, Any]:
    """Organization administrators choose how the school's messenger behaves."""
    async with ctx.db.acting(actor.user_id) as conn:
        org = await _managed_org(conn, actor, org_id, "change its settings")
        settings = await conn.fetchval(
            """UPDATE organizations SET settings = settings || $2::jsonb
               WHERE id = $1 RETURNING settings""",
            org_id,
            body.model_dump(),
        )
        await audit.record(
            conn,
            "organization.settings",
            actor_id=actor.user_id,
            target_type="organization",
            target_id=org_id,
            zone_id=org["zone_id"],
            org_id=org_id,
            meta=meta,
            details=body.model_dump(),
        )
    return dict(settings)
