"""Invitation codes (and links carrying them): how a person joins a school, or one of its
classes, with a role. Administrators make a code (expiring, for one use or many); whoever
redeems it while signed in joins. Redeeming is the person's consent, which replaces adding
people found by e-mail across schools.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any
from uuid import UUID

from hub.accounts import audit
from hub.accounts.roles import load_roles
from hub.context import Actor, HubContext, RequestMeta
from hub.db import Connection
from hub.errors import DomainError, ErrorCode, forbidden, not_found
from schema.models.accounts import OrgRole
from schema.models.invitations import InvitationCreate

# No 0/O or 1/I: codes are read aloud and typed from paper.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10  # 50 bits
_COLUMNS = """id, code, org_id, class_id, role::text AS role, max_uses, uses, expires_at,
              created_at, revoked_at"""
# Roles a class keeps a row for (class_members); other roles join the school only.
_CLASS_ROLES = {OrgRole.STUDENT: "student", OrgRole.TEACHER: "teacher"}


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize(code: str) -> str:
    """As typed: case, spaces and dashes do not matter."""
    return "".join(ch for ch in code.upper() if ch not in " -")


def _link(ctx: HubContext, code: str) -> str:
    return f"{ctx.settings.public_url.rstrip('/')}/join/{code}"


def _out(ctx: HubContext, row: Any) -> dict[str, Any]:
    return {**dict(row), "link": _link(ctx, row["code"])}


async def managed_org(conn: Connection, actor: Actor, org_id: UUID, what: str) -> UUID:
    """The organization's zone, if the caller administers it (org, zone or system admin)."""
    zone_id: UUID | None = await conn.fetchval(
        "SELECT zone_id FROM organizations WHERE id = $1", org_id
    )
    if zone_id is None:
        raise not_found("Organization")
    if not (await load_roles(conn, actor.user_id)).can_manage_org(org_id, zone_id):
        raise forbidden(f"Only administrators of this organization may {what}")
    return zone_id


async def create_invitation(
    ctx: HubContext, actor: Actor, org_id: UUID, body: InvitationCreate, meta: RequestMeta
) -> dict[str, Any]:
    async with ctx.db.acting(actor.user_id) as conn:
        zone_id = await managed_org(conn, actor, org_id, "invite members")
        if body.class_id is not None and not await conn.fetchval(
            "SELECT 1 FROM classes WHERE id = $1 AND org_id = $2", body.class_id, org_id
        ):
            raise not_found("Class")
        row = await conn.fetchrow(
            f"""INSERT INTO invitations (code, org_id, zone_id, class_id, role, max_uses,
                                         expires_at, created_by)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_COLUMNS}""",  # noqa: S608
            new_code(),
            org_id,
            zone_id,
            body.class_id,
            body.role.value,
            body.max_uses,
            ctx.clock() + timedelta(hours=body.expires_in_hours),
            actor.user_id,
        )
        assert row is not None  # noqa: S101 - INSERT … RETURNING gives the row
        await audit.record(
            conn,
            "invitation.create",
            actor_id=actor.user_id,
            target_type="invitation",
            target_id=row["id"],
            zone_id=zone_id,
            org_id=org_id,
            meta=meta,
            details={"role": body.role.value, "max_uses": body.max_uses},
        )
    return _out(ctx, row)


async def list_invitations(ctx: HubContext, actor: Actor, org_id: UUID) -> list[dict[str, Any]]:
    async with ctx.db.acting(actor.user_id) as conn:
        await managed_org(conn, actor, org_id, "see its invitations")
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM invitations WHERE org_id = $1 ORDER BY created_at DESC",  # noqa: S608
            org_id,
        )
    return [_out(ctx, r) for r in rows]


async def revoke_invitation(
    ctx: HubContext, actor: Actor, invitation_id: UUID, meta: RequestMeta
) -> None:
    async with ctx.db.acting(actor.user_id) as conn:
        row = await conn.fetchrow(
            "SELECT org_id FROM invitations WHERE id = $1 FOR UPDATE", invitation_id
        )
        if row is None:
            raise not_found("Invitation")
        zone_id = await managed_org(conn, actor, row["org_id"], "revoke its invitations")
        await conn.execute(
            "UPDATE invitations SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1",
            invitation_id,
            ctx.clock(),
        )
        await audit.record(
            conn,
            "invitation.revoke",
            actor_id=actor.user_id,
            target_type="invitation",
            target_id=invitation_id,
            zone_id=zone_id,
            org_id=row["org_id"],
            meta=meta,
        )


async def redeem(ctx: HubContext, actor: Actor, code: str, meta: RequestMeta) -> dict[str, Any]:
    """Join with a code: the membership (and class place) it grants, once per person."""
    now = ctx.clock()
    # The person is not in the school yet, so the code is looked up across tenants: holding
    # the code is the rule that allows it.
    async with ctx.db.system() as conn:
        inv = await conn.fetchrow(
            f"SELECT {_COLUMNS}, zone_id FROM invitations WHERE code = $1 FOR UPDATE",  # noqa: S608
            normalize(code),
        )
        if inv is None:
            raise not_found("Invitation")
        joined = {"org_id": inv["org_id"], "class_id": inv["class_id"], "role": inv["role"]}
        if await conn.fetchval(
            "SELECT 1 FROM invitation_redemptions WHERE invitation_id = $1 AND user_id = $2",
            inv["id"],
            actor.user_id,
        ):
            return joined | {"already": True}
        if inv["revoked_at"] is not None or inv["expires_at"] <= now:
            raise DomainError(ErrorCode.INVITATION_INVALID, "This invitation has expired")
        if inv["uses"] >= inv["max_uses"]:
            raise DomainError(ErrorCode.INVITATION_INVALID, "This invitation has been used up")
        await conn.execute(
            """INSERT INTO invitation_redemptions (invitation_id, user_id, org_id, zone_id)
               VALUES ($1, $2, $3, $4)""",
            inv["id"],
            actor.user_id,
            inv["org_id"],
            inv["zone_id"],
        )
        await conn.execute("UPDATE invitations SET uses = uses + 1 WHERE id = $1", inv["id"])
        await conn.execute(
            """INSERT INTO memberships (org_id, zone_id, user_id, role)
               VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING""",
            inv["org_id"],
            inv["zone_id"],
            actor.user_id,
            inv["role"],
        )
        class_role = _CLASS_ROLES.get(OrgRole(inv["role"]))
        if inv["class_id"] is not None and class_role is not None:
            await conn.execute(
                """INSERT INTO class_members (class_id, org_id, zone_id, user_id, role)
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
                inv["class_id"],
                inv["org_id"],
                inv["zone_id"],
                actor.user_id,
                class_role,
            )
        await audit.record(
            conn,
            "invitation.redeem",
            actor_id=actor.user_id,
            target_type="invitation",
            target_id=inv["id"],
            zone_id=inv["zone_id"],
            org_id=inv["org_id"],
            meta=meta,
            details={"role": inv["role"]},
        )
    return joined | {"already": False}
