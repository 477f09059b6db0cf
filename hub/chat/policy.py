"""Who may talk to whom. Pure rules over roles: no I/O, tested on their own."""

from __future__ import annotations

from uuid import UUID

from hub.accounts.roles import Roles
from schema.models.accounts import OrgRole

STAFF = frozenset({OrgRole.TEACHER, OrgRole.ORG_ADMIN})


def direct_conversation_org(a: Roles, b: Roles) -> UUID | None:
    """The organization in which `a` may open a direct conversation with `b`, if any.

    Teachers (and org admins) talk with anyone of their organization; students with the
    teachers and tutors of theirs; parents with the teachers of their linked child's
    organization (a parent holds a `parent` role there once the child approved the link).
    Nobody talks across organizations.
    """
    if a.user_id == b.user_id:
        return None
    for org_id in sorted(set(a.org_roles) & set(b.org_roles)):
        if _pair_allowed(a.org_roles[org_id], b.org_roles[org_id]):
            return org_id
    return None


def _pair_allowed(a: frozenset[OrgRole], b: frozenset[OrgRole]) -> bool:
    if a & STAFF or b & STAFF:
        return True
    return (OrgRole.STUDENT in a and OrgRole.TUTOR in b) or (
        OrgRole.TUTOR in a and OrgRole.STUDENT in b
    )


def may_create_group(roles: Roles, org_id: UUID) -> bool:
    """Teachers and administrators open class rooms, subject rooms and announcements."""
    return bool(roles.org_roles.get(org_id, frozenset()) & STAFF) or roles.is_sys_admin


def may_post(kind: str, participant_role: str) -> bool:
    """Announcements are read-only for members; observers never post."""
    if participant_role == "observer":
        return False
    return kind != "announcement" or participant_role == "admin"


def may_manage_participants(kind: str, participant_role: str) -> bool:
    return kind != "direct" and participant_role == "admin"
