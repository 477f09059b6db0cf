"""Who may do what with exams: staff (teachers, org admins) of the exam's organization manage
and watch it; students of its audience sit it."""

from __future__ import annotations

from uuid import UUID

from hub.accounts.roles import Roles, load_roles
from hub.context import Actor
from hub.db import Connection
from hub.errors import forbidden
from schema.models.accounts import OrgRole

STAFF_ROLES = frozenset({OrgRole.TEACHER, OrgRole.ORG_ADMIN})


def is_staff(roles: Roles, org_id: UUID) -> bool:
    return roles.is_sys_admin or bool(roles.org_roles.get(org_id, frozenset()) & STAFF_ROLES)


async def require_staff(conn: Connection, actor: Actor, org_id: UUID, what: str) -> Roles:
    roles = await load_roles(conn, actor.user_id)
    if not is_staff(roles, org_id):
        raise forbidden(f"Only teachers of this organization may {what}")
    return roles


async def staff_of(conn: Connection, actor: Actor, org_id: UUID) -> bool:
    return is_staff(await load_roles(conn, actor.user_id), org_id)
