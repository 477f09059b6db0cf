"""Who may talk to whom: the pure rules of hub.chat.policy over hand-built roles."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from hub.accounts.roles import Roles
from hub.chat import policy
from schema.models.accounts import OrgRole

SCHOOL = UUID("00000000-0000-4000-8000-00000000000a")
ACADEMY = UUID("00000000-0000-4000-8000-00000000000b")


def person(*held: tuple[UUID, OrgRole], sys_admin: bool = False) -> Roles:
    org_roles: dict[UUID, set[OrgRole]] = {}
    for org_id, role in held:
        org_roles.setdefault(org_id, set()).add(role)
    return Roles(
        uuid4(),
        is_sys_admin=sys_admin,
        org_roles={org: frozenset(roles) for org, roles in org_roles.items()},
    )


def test_student_and_teacher_of_one_school_may_talk_both_ways() -> None:
    """A student and a teacher of the same organization get that organization, either way."""
    student, teacher = person((SCHOOL, OrgRole.STUDENT)), person((SCHOOL, OrgRole.TEACHER))
    assert policy.direct_conversation_org(student, teacher) == SCHOOL
    assert policy.direct_conversation_org(teacher, student) == SCHOOL


def test_student_and_tutor_may_talk() -> None:
    """A tutor and a student of the same organization may open a direct conversation."""
    student, tutor = person((SCHOOL, OrgRole.STUDENT)), person((SCHOOL, OrgRole.TUTOR))
    assert policy.direct_conversation_org(student, tutor) == SCHOOL
    assert policy.direct_conversation_org(tutor, student) == SCHOOL


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (OrgRole.STUDENT, OrgRole.STUDENT),
        (OrgRole.PARENT, OrgRole.PARENT),
        (OrgRole.PARENT, OrgRole.STUDENT),
        (OrgRole.PARENT, OrgRole.TUTOR),
        (OrgRole.TUTOR, OrgRole.TUTOR),
    ],
)
def test_pairs_without_staff_are_refused(a: OrgRole, b: OrgRole) -> None:
    """Students with students, parents with parents (and other staff-less pairs) may not talk."""
    first, second = person((SCHOOL, a)), person((SCHOOL, b))
    assert policy.direct_conversation_org(first, second) is None
    assert policy.direct_conversation_org(second, first) is None


def test_parent_talks_with_teacher_of_the_childs_school() -> None:
    """A parent holding a 'parent' role in the child's school may talk with its teachers."""
    parent = person((SCHOOL, OrgRole.PARENT))
    teacher = person((SCHOOL, OrgRole.TEACHER))
    other_teacher = person((ACADEMY, OrgRole.TEACHER))
    assert policy.direct_conversation_org(parent, teacher) == SCHOOL
    assert policy.direct_conversation_org(teacher, parent) == SCHOOL
    assert policy.direct_conversation_org(parent, other_teacher) is None


@pytest.mark.parametrize("role", [OrgRole.TEACHER, OrgRole.ORG_ADMIN, OrgRole.STUDENT])
def test_nobody_talks_across_organizations(role: OrgRole) -> None:
    """Holding roles only in different organizations refuses even teacher-to-teacher."""
    a = person((SCHOOL, OrgRole.TEACHER))
    b = person((ACADEMY, role))
    assert policy.direct_conversation_org(a, b) is None
    assert policy.direct_conversation_org(b, a) is None


def test_the_shared_organization_where_the_rule_holds_is_chosen() -> None:
    """Two students in one school where one also teaches in an academy meet in that academy."""
    a = person((SCHOOL, OrgRole.STUDENT), (ACADEMY, OrgRole.TEACHER))
    b = person((SCHOOL, OrgRole.STUDENT), (ACADEMY, OrgRole.STUDENT))
    assert policy.direct_conversation_org(a, b) == ACADEMY


def test_a_sys_admin_without_a_shared_organization_is_refused() -> None:
    """Being a system administrator does not open direct conversations across tenants."""
    admin = person(sys_admin=True)
    assert policy.direct_conversation_org(admin, person((SCHOOL, OrgRole.STUDENT))) is None


def test_nobody_opens_a_conversation_with_themselves() -> None:
    """Even a teacher holding every role is refused a direct conversation with themselves."""
    teacher = person((SCHOOL, OrgRole.TEACHER), (SCHOOL, OrgRole.STUDENT))
    assert policy.direct_conversation_org(teacher, teacher) is None
    twin = Roles(teacher.user_id, org_roles=dict(teacher.org_roles))
    assert policy.direct_conversation_org(teacher, twin) is None


@pytest.mark.parametrize(
    ("kind", "role", "allowed"),
    [
        ("direct", "member", True),
        ("group", "member", True),
        ("group", "admin", True),
        ("announcement", "admin", True),
        ("announcement", "member", False),
        ("announcement", "observer", False),
        ("group", "observer", False),
        ("direct", "observer", False),
    ],
)
def test_may_post(kind: str, role: str, allowed: bool) -> None:
    """Announcements are read-only for members; observers never post; others do."""
    assert policy.may_post(kind, role) is allowed


@pytest.mark.parametrize(
    ("kind", "role", "allowed"),
    [
        ("group", "admin", True),
        ("announcement", "admin", True),
        ("group", "member", False),
        ("announcement", "member", False),
        ("group", "observer", False),
        ("direct", "admin", False),
        ("direct", "member", False),
    ],
)
def test_may_manage_participants(kind: str, role: str, allowed: bool) -> None:
    """Only admins of a group or announcement manage participants; direct rooms are fixed."""
    assert policy.may_manage_participants(kind, role) is allowed


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (OrgRole.TEACHER, True),
        (OrgRole.ORG_ADMIN, True),
        (OrgRole.STUDENT, False),
        (OrgRole.PARENT, False),
        (OrgRole.TUTOR, False),
    ],
)
def test_may_create_group_in_own_organization(role: OrgRole, allowed: bool) -> None:
    """Teachers and org admins open groups in their organization; others do not."""
    assert policy.may_create_group(person((SCHOOL, role)), SCHOOL) is allowed


def test_may_create_group_is_scoped_to_the_organization() -> None:
    """A teacher of one school cannot open a group in another; a sys admin can anywhere."""
    assert not policy.may_create_group(person((SCHOOL, OrgRole.TEACHER)), ACADEMY)
    assert policy.may_create_group(person(sys_admin=True), ACADEMY)
