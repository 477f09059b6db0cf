"""Zones, organizations, members and classes over REST, with the tenant wall in PostgreSQL."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.support import Factory, Org, User, error_of


def _field_names(error: dict[str, Any]) -> set[str]:
    return {f["field"] for f in error.get("fields", [])}


async def _audit(factory: Factory, action: str) -> list[dict[str, Any]]:
    # The factory's connections have no JSON codec: details arrive as text, an object's text.
    rows = await factory.fetch(
        "SELECT *, jsonb_typeof(details) AS details_type FROM audit_log "
        "WHERE action = $1 ORDER BY id",
        action,
    )
    assert {r["details_type"] for r in rows} <= {"object"}
    return [{**dict(r), "details": json.loads(r["details"])} for r in rows]


async def _school(factory: Factory) -> tuple[Org, User]:
    org = await factory.org()
    return org, await factory.user("org_admin", org)


# --- zones -----------------------------------------------------------------------------------


async def test_zones_lists_every_seeded_zone(api: httpx.AsyncClient, factory: Factory) -> None:
    """GET /zones returns the migration's zones, ordered by slug, with their real ids."""
    user = await factory.user()
    response = await api.get("/zones", headers=user.headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    slugs = [z["slug"] for z in items]
    assert slugs == sorted(slugs)
    assert {"kzone", "univprep", "portal"} <= set(slugs)
    kzone = next(z for z in items if z["slug"] == "kzone")
    assert kzone == {"id": str(await factory.zone("kzone")), "slug": "kzone", "name": "K-Zone"}


async def test_zones_need_a_token(api: httpx.AsyncClient) -> None:
    """GET /zones without a bearer token is 401 unauthenticated."""
    response = await api.get("/zones")
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthenticated"


# --- creating organizations ------------------------------------------------------------------


async def test_sys_admin_creates_organization(api: httpx.AsyncClient, factory: Factory) -> None:
    """A system administrator creates an organization; it is stored and audited."""
    admin = await factory.user(sys_admin=True)
    zone_id = await factory.zone("univprep")
    response = await api.post(
        "/organizations",
        headers=admin.headers,
        json={"zone_id": str(zone_id), "name": "Seoul High", "kind": "academy"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["zone_id"] == str(zone_id)
    assert (body["name"], body["kind"], body["member_count"]) == ("Seoul High", "academy", 0)
    rows = await factory.fetch(
        "SELECT zone_id, name, kind, created_by FROM organizations WHERE id = $1",
        uuid.UUID(body["id"]),
    )
    assert [tuple(r) for r in rows] == [(zone_id, "Seoul High", "academy", admin.id)]
    [entry] = await _audit(factory, "organization.create")
    assert entry["actor_id"] == admin.id
    assert entry["target_id"] == body["id"]
    assert (entry["zone_id"], entry["org_id"]) == (zone_id, uuid.UUID(body["id"]))
    assert entry["details"] == {"name": "Seoul High"}


async def test_zone_admin_creates_organization_in_own_zone(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A zone administrator creates an organization in their zone; kind defaults to school."""
    zone_id = await factory.zone("kzone")
    admin = await factory.user(zone_admin_of=zone_id)
    response = await api.post(
        "/organizations",
        headers=admin.headers,
        json={"zone_id": str(zone_id), "name": "Busan Prep"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == "school"
    assert (
        await factory.fetchval("SELECT count(*) FROM organizations WHERE zone_id = $1", zone_id)
        == 1
    )


async def test_zone_admin_of_another_zone_is_refused(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A zone administrator cannot create an organization in a zone they do not run."""
    admin = await factory.user(zone_admin_of=await factory.zone("univprep"))
    before = await factory.snapshot()
    response = await api.post(
        "/organizations",
        headers=admin.headers,
        json={"zone_id": str(await factory.zone("kzone")), "name": "X"},
    )
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    assert await factory.snapshot() == before


@pytest.mark.parametrize("role", ["org_admin", "teacher", "student"])
async def test_org_members_cannot_create_organizations(
    api: httpx.AsyncClient, factory: Factory, role: str
) -> None:
    """Org admins, teachers and students get 403 and nothing is created."""
    org = await factory.org()
    user = await factory.user(role, org)
    before = await factory.snapshot()
    response = await api.post(
        "/organizations", headers=user.headers, json={"zone_id": str(org.zone_id), "name": "Mine"}
    )
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    assert await factory.snapshot() == before


async def test_create_organization_in_unknown_zone(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """An unknown zone_id is 404 not_found, even for a system administrator."""
    admin = await factory.user(sys_admin=True)
    response = await api.post(
        "/organizations",
        headers=admin.headers,
        json={"zone_id": str(uuid.uuid4()), "name": "Nowhere"},
    )
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "not_found"
    assert "Zone" in error["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"zone_id": "ZONE"}, "name"),
        ({"zone_id": "ZONE", "name": ""}, "name"),
        ({"zone_id": "ZONE", "name": "x" * 201}, "name"),
        ({"zone_id": "ZONE", "name": "A", "kind": "university"}, "kind"),
        ({"zone_id": "not-a-uuid", "name": "A"}, "zone_id"),
        ({"name": "A"}, "zone_id"),
        ({"zone_id": "ZONE", "name": "A", "colour": "red"}, "colour"),
    ],
)
async def test_create_organization_validation_names_the_field(
    api: httpx.AsyncClient, factory: Factory, body: dict[str, Any], field: str
) -> None:
    """An invalid body is 422 validation_error naming the offending field; nothing is stored."""
    admin = await factory.user(sys_admin=True)
    zone_id = str(await factory.zone())
    body = {k: zone_id if v == "ZONE" else v for k, v in body.items()}
    response = await api.post("/organizations", headers=admin.headers, json=body)
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert _field_names(error) == {field}
    assert field in error["message"]
    assert await factory.fetchval("SELECT count(*) FROM organizations") == 0


# --- reading an organization -----------------------------------------------------------------


async def test_member_sees_organization(api: httpx.AsyncClient, factory: Factory) -> None:
    """A member reads the organization; member_count counts people, not roles."""
    org = await factory.org(name="Daegu Middle")
    teacher = await factory.user("teacher", org)
    await factory.fetch(
        "INSERT INTO memberships (org_id, zone_id, user_id, role) VALUES ($1, $2, $3, 'org_admin')",
        org.id,
        org.zone_id,
        teacher.id,
    )
    await factory.user("student", org)
    response = await api.get(f"/organizations/{org.id}", headers=teacher.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["zone_id"]) == (str(org.id), str(org.zone_id))
    assert (body["name"], body["kind"], body["member_count"]) == ("Daegu Middle", "school", 2)


async def test_zone_admin_sees_organization_of_their_zone(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A zone administrator reads an organization of their zone without being a member."""
    org = await factory.org()
    admin = await factory.user(zone_admin_of=org.zone_id)
    response = await api.get(f"/organizations/{org.id}", headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == str(org.id)


async def test_member_of_another_org_gets_404(api: httpx.AsyncClient, factory: Factory) -> None:
    """Another tenant's organization looks exactly like one that does not exist."""
    mine, theirs = await factory.org(), await factory.org()
    teacher = await factory.user("teacher", mine)
    hidden = await api.get(f"/organizations/{theirs.id}", headers=teacher.headers)
    missing = await api.get(f"/organizations/{uuid.uuid4()}", headers=teacher.headers)
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert error_of(hidden) == error_of(missing)
    assert error_of(hidden)["code"] == "not_found"


async def test_zone_admin_of_another_zone_gets_404(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A zone administrator cannot read organizations of other zones."""
    org = await factory.org(zone="kzone")
    admin = await factory.user(zone_admin_of=await factory.zone("univprep"))
    response = await api.get(f"/organizations/{org.id}", headers=admin.headers)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


async def test_organization_id_must_be_a_uuid(api: httpx.AsyncClient, factory: Factory) -> None:
    """A non-UUID path id is 422 validation_error naming org_id."""
    user = await factory.user(sys_admin=True)
    response = await api.get("/organizations/42", headers=user.headers)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert _field_names(error) == {"org_id"}
    assert "'42'" in error["message"]


# --- members ---------------------------------------------------------------------------------


async def test_outsiders_are_not_added_by_email_or_id(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """An org admin cannot pull in a platform user from outside (by e-mail: 422, by id: 404):
    newcomers join by invitation; nothing is stored."""
    org, admin = await _school(factory)
    outsider = await factory.user("teacher", await factory.org())
    before = await factory.snapshot()
    by_email = await api.post(
        f"/organizations/{org.id}/members",
        headers=admin.headers,
        json={"email": outsider.email, "role": "teacher"},
    )
    assert by_email.status_code == 422 and "email" in _field_names(error_of(by_email))
    by_id = await api.post(
        f"/organizations/{org.id}/members",
        headers=admin.headers,
        json={"user_id": str(outsider.id), "role": "teacher"},
    )
    assert by_id.status_code == 404 and "invite" in error_of(by_id)["message"]
    assert await factory.snapshot() == before


async def test_org_admin_adds_member_by_user_id(api: httpx.AsyncClient, factory: Factory) -> None:
    """A member gets more roles by user_id (here a student also becomes teacher and parent)."""
    org, admin = await _school(factory)
    person = await factory.user("student", org)
    for role in ("teacher", "parent"):
        response = await api.post(
            f"/organizations/{org.id}/members",
            headers=admin.headers,
            json={"user_id": str(person.id), "role": role},
        )
        assert response.status_code == 201, response.text
    roles = await factory.fetch(
        "SELECT role::text FROM memberships WHERE user_id = $1 ORDER BY role", person.id
    )
    assert [r["role"] for r in roles] == ["parent", "student", "teacher"]


async def test_adding_same_role_twice_conflicts(api: httpx.AsyncClient, factory: Factory) -> None:
    """Granting a role the person already holds is 409 conflict and audits nothing new."""
    org, admin = await _school(factory)
    person = await factory.user("student", org)
    before = await factory.snapshot()
    response = await api.post(
        f"/organizations/{org.id}/members",
        headers=admin.headers,
        json={"user_id": str(person.id), "role": "student"},
    )
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "conflict"
    assert "student" in error["message"]
    assert await factory.snapshot() == before
    assert await _audit(factory, "membership.grant") == []


async def test_membership_grant_is_audited(api: httpx.AsyncClient, factory: Factory) -> None:
    """A role change writes one 'membership.grant' entry naming actor, target, tenant and role."""
    org, admin = await _school(factory)
    person = await factory.user("student", org)
    response = await api.post(
        f"/organizations/{org.id}/members",
        headers=admin.headers,
        json={"user_id": str(person.id), "role": "tutor"},
    )
    assert response.status_code == 201, response.text
    [entry] = await _audit(factory, "membership.grant")
    assert entry["actor_id"] == admin.id
    assert (entry["target_type"], entry["target_id"]) == ("user", str(person.id))
    assert (entry["zone_id"], entry["org_id"]) == (org.zone_id, org.id)
    assert entry["details"] == {"role": "tutor"}
    assert str(entry["ip"]) == "127.0.0.1"


async def test_zone_admin_adds_member(api: httpx.AsyncClient, factory: Factory) -> None:
    """A zone administrator may add members to an organization of their zone."""
    org = await factory.org()
    admin = await factory.user(zone_admin_of=org.zone_id)
    person = await factory.user("teacher", org)
    response = await api.post(
        f"/organizations/{org.id}/members",
        headers=admin.headers,
        json={"user_id": str(person.id), "role": "org_admin"},
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("role", ["teacher", "student", "parent"])
async def test_non_admin_cannot_add_members(
    api: httpx.AsyncClient, factory: Factory, role: str
) -> None:
    """Teachers, students and parents get 403 and the database is unchanged."""
    org = await factory.org()
    member = await factory.user(role, org)
    person = await factory.user()
    before = await factory.snapshot()
    response = await api.post(
        f"/organizations/{org.id}/members",
        headers=member.headers,
        json={"user_id": str(person.id), "role": "teacher"},
    )
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    assert await factory.snapshot() == before


async def test_admin_of_another_org_gets_404(api: httpx.AsyncClient, factory: Factory) -> None:
    """An org admin cannot add members to another tenant's organization (it is invisible)."""
    _, admin = await _school(factory)
    other = await factory.org()
    person = await factory.user()
    before = await factory.snapshot()
    response = await api.post(
        f"/organizations/{other.id}/members",
        headers=admin.headers,
        json={"user_id": str(person.id), "role": "teacher"},
    )
    assert response.status_code == 404
    assert await factory.snapshot() == before


async def test_add_unknown_user_is_404(api: httpx.AsyncClient, factory: Factory) -> None:
    """Adding an id nobody has is 404 not_found naming the user."""
    org, admin = await _school(factory)
    for who in ({"user_id": str(uuid.uuid4())},):
        response = await api.post(
            f"/organizations/{org.id}/members",
            headers=admin.headers,
            json={**who, "role": "teacher"},
        )
        assert response.status_code == 404, who
        error = error_of(response)
        assert error["code"] == "not_found"
        assert "User" in error["message"]


async def test_add_member_needs_a_user_id(api: httpx.AsyncClient, factory: Factory) -> None:
    """No user_id is 422 validation_error naming it, and nothing changes."""
    org, admin = await _school(factory)
    before = await factory.snapshot()
    response = await api.post(
        f"/organizations/{org.id}/members", headers=admin.headers, json={"role": "teacher"}
    )
    assert response.status_code == 422
    assert "user_id" in _field_names(error_of(response))
    assert await factory.snapshot() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "headmaster"}, "role"),
        ({}, "role"),
        ({"role": "teacher", "email": "nope"}, "email"),
    ],
)
async def test_add_member_validation_names_the_field(
    api: httpx.AsyncClient, factory: Factory, body: dict[str, Any], field: str
) -> None:
    """A bad role or e-mail is 422 validation_error naming that field."""
    org, admin = await _school(factory)
    person = await factory.user()
    body = {"user_id": str(person.id), **body} if "email" not in body else body
    response = await api.post(f"/organizations/{org.id}/members", headers=admin.headers, json=body)
    assert response.status_code == 422
    assert field in _field_names(error_of(response))


async def test_members_are_listed_to_members(api: httpx.AsyncClient, factory: Factory) -> None:
    """Every member sees each (person, role) of the organization, and only of it."""
    org, admin = await _school(factory)
    teacher = await factory.user("teacher", org)
    student = await factory.user("student", org)
    await factory.user("teacher", await factory.org())
    expected = {
        (str(admin.id), "org_admin"),
        (str(teacher.id), "teacher"),
        (str(student.id), "student"),
    }
    for viewer in (admin, teacher, student):
        response = await api.get(f"/organizations/{org.id}/members", headers=viewer.headers)
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert {(m["user_id"], m["role"]) for m in items} == expected
        assert {m["org_id"] for m in items} == {str(org.id)}
        assert len(items) == 3


async def test_members_of_another_org_are_hidden(api: httpx.AsyncClient, factory: Factory) -> None:
    """Listing members of an organization you are not in is 404."""
    mine, theirs = await factory.org(), await factory.org()
    teacher = await factory.user("teacher", mine)
    await factory.user("student", theirs)
    response = await api.get(f"/organizations/{theirs.id}/members", headers=teacher.headers)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


# --- classes ---------------------------------------------------------------------------------


async def test_teacher_creates_and_lists_classes(api: httpx.AsyncClient, factory: Factory) -> None:
    """A teacher creates classes; members list them by name with an empty roster."""
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    student = await factory.user("student", org)
    created = []
    for name in ("Math 2B", "English 1A"):
        response = await api.post(
            f"/organizations/{org.id}/classes", headers=teacher.headers, json={"name": name}
        )
        assert response.status_code == 201, response.text
        created.append(response.json())
    assert created[0]["org_id"] == str(org.id)
    assert (created[0]["name"], created[0]["member_count"]) == ("Math 2B", 0)
    response = await api.get(f"/organizations/{org.id}/classes", headers=student.headers)
    assert response.status_code == 200, response.text
    assert response.json()["items"] == sorted(created, key=lambda c: c["name"])
    entries = await _audit(factory, "class.create")
    assert [e["target_id"] for e in entries] == [c["id"] for c in created]
    assert {e["actor_id"] for e in entries} == {teacher.id}


async def test_org_admin_creates_class(api: httpx.AsyncClient, factory: Factory) -> None:
    """An org admin who is not a teacher may create a class too."""
    org, admin = await _school(factory)
    response = await api.post(
        f"/organizations/{org.id}/classes", headers=admin.headers, json={"name": "Homeroom"}
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("role", ["student", "parent"])
async def test_students_and_parents_cannot_create_classes(
    api: httpx.AsyncClient, factory: Factory, role: str
) -> None:
    """A student or parent gets 403 and no class is stored."""
    org = await factory.org()
    member = await factory.user(role, org)
    before = await factory.snapshot()
    response = await api.post(
        f"/organizations/{org.id}/classes", headers=member.headers, json={"name": "Skip day"}
    )
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    assert await factory.snapshot() == before


async def test_teacher_of_another_org_cannot_create_class(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Being a teacher elsewhere does not let you create classes here (404: invisible)."""
    teacher = await factory.user("teacher", await factory.org())
    other = await factory.org()
    response = await api.post(
        f"/organizations/{other.id}/classes", headers=teacher.headers, json={"name": "Intrusion"}
    )
    assert response.status_code == 404
    assert await factory.fetchval("SELECT count(*) FROM classes") == 0


async def test_duplicate_class_name_conflicts(api: httpx.AsyncClient, factory: Factory) -> None:
    """A second class of the same name in one org is 409 naming 'name'; other orgs may reuse it."""
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    first = await api.post(
        f"/organizations/{org.id}/classes", headers=teacher.headers, json={"name": "Physics"}
    )
    assert first.status_code == 201, first.text
    again = await api.post(
        f"/organizations/{org.id}/classes", headers=teacher.headers, json={"name": "Physics"}
    )
    assert again.status_code == 409
    error = error_of(again)
    assert (error["code"], error["field"]) == ("conflict", "name")
    assert len(await _audit(factory, "class.create")) == 1

    other = await factory.org()
    elsewhere = await factory.user("teacher", other)
    response = await api.post(
        f"/organizations/{other.id}/classes", headers=elsewhere.headers, json={"name": "Physics"}
    )
    assert response.status_code == 201, response.text
    assert await factory.fetchval("SELECT count(*) FROM classes WHERE name = 'Physics'") == 2


async def test_class_name_is_validated(api: httpx.AsyncClient, factory: Factory) -> None:
    """An empty class name is 422 naming 'name'."""
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    response = await api.post(
        f"/organizations/{org.id}/classes", headers=teacher.headers, json={"name": "   "}
    )
    assert response.status_code == 422
    assert _field_names(error_of(response)) == {"name"}


async def test_classes_of_another_org_are_hidden(api: httpx.AsyncClient, factory: Factory) -> None:
    """Listing classes of an organization you are not in is 404."""
    theirs = await factory.org()
    await factory.fetch(
        "INSERT INTO classes (org_id, zone_id, name) VALUES ($1, $2, 'Secret')",
        theirs.id,
        theirs.zone_id,
    )
    outsider = await factory.user("teacher", await factory.org())
    response = await api.get(f"/organizations/{theirs.id}/classes", headers=outsider.headers)
    assert response.status_code == 404
