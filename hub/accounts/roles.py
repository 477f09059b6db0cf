"""Who holds which role where, and the rules built on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from hub.db import Connection
from schema.models.accounts import OrgRole


@dataclass(frozen=True)
class Roles:
    user_id: UUID
    is_sys_admin: bool = False
    admin_zone_ids: frozenset[UUID] = frozenset()
    # org_id -> the roles held there
    org_roles: dict[UUID, frozenset[OrgRole]] = field(default_factory=dict)

    def holds(self, role: OrgRole, org_id: UUID | None = None) -> bool:
        if org_id is not None:
            return role in self.org_roles.get(org_id, frozenset())
        return any(role in roles for roles in self.org_roles.values())

    def can_manage_org(self, org_id: UUID, zone_id: UUID) -> bool:
        return (
            self.is_sys_admin
            or zone_id in self.admin_zone_ids
            or self.holds(OrgRole.ORG_ADMIN, org_id)
        )

    def holds_teacher(self, org_id: UUID) -> bool:
        return self.holds(OrgRole.TEACHER, org_id)

    def can_create_org(self, zone_id: UUID) -> bool:
        return self.is_sys_admin or zone_id in self.admin_zone_ids


async def load_roles(conn: Connection, user_id: UUID) -> Roles:
    row = await conn.fetchrow(
        """SELECT u.is_sys_admin,
                  coalesce((SELECT array_agg(zone_id) FROM zone_admins WHERE user_id = u.id), '{}')
                      AS zones
           FROM users u WHERE u.id = $1 AND u.deleted_at IS NULL""",
        user_id,
    )
    if row is None:
        return Roles(user_id)
    org_roles: dict[UUID, set[OrgRole]] = {}
    for m in await conn.fetch(
        "SELECT org_id, role::text FROM memberships WHERE user_id = $1", user_id
    ):
        org_roles.setdefault(m["org_id"], set()).add(OrgRole(m["role"]))
    return Roles(
        user_id,
        is_sys_admin=row["is_sys_admin"],
        admin_zone_ids=frozenset(row["zones"]),
        org_roles={org: frozenset(r) for org, r in org_roles.items()},
    )
