"""Row-level security is a second wall: code that forgets its own check still sees one tenant."""

from __future__ import annotations

import asyncpg
import pytest

from hub.context import HubContext
from tests.support import Factory


async def test_app_connections_act_as_a_role_bound_by_rls(
    hub_ctx: HubContext, factory: Factory
) -> None:
    """The pool's queries run as the application role: not a superuser, no BYPASSRLS, no owner."""
    user = await factory.user()
    async with hub_ctx.db.acting(user.id) as conn:
        row = await conn.fetchrow(
            """SELECT current_user AS role, r.rolsuper, r.rolbypassrls,
                      (SELECT tableowner FROM pg_tables WHERE tablename = 'organizations') AS owner
               FROM pg_roles r WHERE r.rolname = current_user"""
        )
    assert row is not None
    assert row["role"] == "dreamseed_app"
    assert not row["rolsuper"] and not row["rolbypassrls"]
    assert row["owner"] != row["role"]


async def test_forgotten_check_cannot_read_another_organization(
    hub_ctx: HubContext, factory: Factory
) -> None:
    """Unfiltered SELECTs acting as a teacher of school A return nothing of school B."""
    school_a, school_b = await factory.org(name="School A"), await factory.org(name="School B")
    teacher_a = await factory.user("teacher", school_a)
    student_b = await factory.user("student", school_b)
    parent_b = await factory.user("parent", school_b)
    conn_owner = await asyncpg.connect(factory.owner_dsn)
    try:
        for org in (school_a, school_b):
            await conn_owner.execute(
                "INSERT INTO classes (org_id, zone_id, name) VALUES ($1, $2, 'Room 1')",
                org.id,
                org.zone_id,
            )
        await conn_owner.execute(
            """INSERT INTO parent_links
                   (org_id, zone_id, parent_id, student_id, requested_at, expires_at)
               VALUES ($1, $2, $3, $4, now(), now() + interval '7 days')""",
            school_b.id,
            school_b.zone_id,
            parent_b.id,
            student_b.id,
        )
        await conn_owner.execute(
            "INSERT INTO consents (user_id, kind, version, granted) "
            "VALUES ($1, 'terms_of_service', '1', true)",
            student_b.id,
        )
    finally:
        await conn_owner.close()

    async with hub_ctx.db.acting(teacher_a.id) as conn:
        orgs = {r["id"] for r in await conn.fetch("SELECT id FROM organizations")}
        member_orgs = {r["org_id"] for r in await conn.fetch("SELECT org_id FROM memberships")}
        users = {r["id"] for r in await conn.fetch("SELECT id FROM users")}
        classes = {r["org_id"] for r in await conn.fetch("SELECT org_id FROM classes")}
        links = await conn.fetch("SELECT * FROM parent_links")
        consents = await conn.fetch("SELECT * FROM consents")
        sessions = {r["user_id"] for r in await conn.fetch("SELECT user_id FROM sessions")}
        audit = await conn.fetch("SELECT * FROM audit_log")
    assert orgs == {school_a.id}
    assert member_orgs == {school_a.id}
    assert users == {teacher_a.id}
    assert classes == {school_a.id}
    assert links == [] and consents == [] and audit == []
    assert sessions == {teacher_a.id}


async def test_forgotten_check_cannot_write_into_another_organization(
    hub_ctx: HubContext, factory: Factory
) -> None:
    """Acting as an admin of school A, inserting a member into school B is refused by PostgreSQL."""
    school_a, school_b = await factory.org(), await factory.org()
    admin_a = await factory.user("org_admin", school_a)
    outsider = await factory.user()
    before = await factory.snapshot()
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with hub_ctx.db.acting(admin_a.id) as conn:
            await conn.execute(
                "INSERT INTO memberships (org_id, zone_id, user_id, role) "
                "VALUES ($1, $2, $3, 'teacher')",
                school_b.id,
                school_b.zone_id,
                outsider.id,
            )
    async with hub_ctx.db.acting(admin_a.id) as conn:
        changed = await conn.execute(
            "UPDATE organizations SET name = 'hijacked' WHERE id = $1", school_b.id
        )
        deleted = await conn.execute("DELETE FROM audit_log")
    assert changed == "UPDATE 0" and deleted == "DELETE 0"
    assert await factory.snapshot() == before


async def test_no_acting_user_sees_no_tenant_rows(hub_ctx: HubContext, factory: Factory) -> None:
    """A transaction that never said who is acting sees no organization, user or membership."""
    org = await factory.org()
    await factory.user("student", org)
    async with hub_ctx.db.anonymous() as conn:
        counts = [
            await conn.fetchval(f"SELECT count(*) FROM {t}")
            for t in ("organizations", "users", "memberships", "sessions")
        ]
        zones = await conn.fetchval("SELECT count(*) FROM zones")
    assert counts == [0, 0, 0, 0]
    assert zones == 10  # zones are public


async def test_zone_admin_sees_their_zone_only(hub_ctx: HubContext, factory: Factory) -> None:
    """A zone admin sees every organization of their zone and none of another zone."""
    kzone = await factory.zone("kzone")
    mine_1, mine_2 = await factory.org("kzone"), await factory.org("kzone")
    other = await factory.org("mediprep")
    admin = await factory.user(zone_admin_of=kzone)
    async with hub_ctx.db.acting(admin.id) as conn:
        orgs = {r["id"] for r in await conn.fetch("SELECT id FROM organizations")}
    assert orgs == {mine_1.id, mine_2.id}
    assert other.id not in orgs


async def test_rest_hides_other_tenant_as_not_found(api: object, factory: Factory) -> None:
    """Over REST, another school's organization is a 404, the same as one that does not exist."""
    import httpx

    assert isinstance(api, httpx.AsyncClient)
    school_a, school_b = await factory.org(), await factory.org()
    teacher = await factory.user("teacher", school_a)
    theirs = await api.get(f"/organizations/{school_b.id}", headers=teacher.headers)
    mine = await api.get(f"/organizations/{school_a.id}", headers=teacher.headers)
    assert theirs.status_code == 404 and mine.status_code == 200
