"""Running the platform without SQL: `dreamseed createadmin` makes the first system admin, and
system admins grant and revoke zone administrators through the API."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import httpx

from hub.settings import Settings
from tests.support import Factory, error_of


def _createadmin(settings: Settings, email: str, password: str | None) -> str:
    env = {
        **os.environ,
        "DATABASE_URL": settings.postgres_dsn,
        "REDIS_URL": settings.redis_dsn,
        "JWT_SECRET": settings.jwt_secret,
    }
    args = [sys.executable, "-m", "hub.cli", "createadmin", "--email", email]
    if password is not None:
        args.append("--password-stdin")
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        args,
        input=f"{password}\n" if password else "",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_createadmin_makes_a_system_admin_who_can_log_in(
    api: httpx.AsyncClient, settings: Settings, factory: Factory
) -> None:
    """A new address becomes a system admin with that password; an existing account is promoted."""
    email = f"root-{uuid.uuid4().hex[:6]}@test.dreamseed.kr"
    assert "created" in _createadmin(settings, email, "a long admin password")
    login = await api.post(
        "/auth/login", json={"email": email, "password": "a long admin password"}
    )
    assert login.status_code == 200, login.text
    me = await api.get(
        "/users/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert me.json()["is_sys_admin"] is True
    existing = await factory.user()
    assert "is now" in _createadmin(settings, existing.email, None)
    assert await factory.fetchval("SELECT is_sys_admin FROM users WHERE id = $1", existing.id)


async def test_sys_admin_grants_and_revokes_zone_admins(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """PUT makes a zone admin (who may then create schools there), DELETE takes it back;
    anyone else is refused and nothing changes."""
    root = await factory.user(sys_admin=True)
    person = await factory.user()
    zone = await factory.zone("kzone")
    path = f"/zones/{zone}/admins/{person.id}"
    org = {"zone_id": str(zone), "name": "새 학교"}
    assert (await api.post("/organizations", headers=person.headers, json=org)).status_code == 403

    for outsider in (person, await factory.user(zone_admin_of=zone)):
        before = await factory.snapshot()
        refused = await api.put(path, headers=outsider.headers)
        assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden"
        assert await factory.snapshot() == before

    granted = await api.put(path, headers=root.headers)
    assert granted.status_code == 200, granted.text
    assert (await api.put(path, headers=root.headers)).status_code == 200  # idempotent
    listed = await api.get(f"/zones/{zone}/admins", headers=root.headers)
    assert str(person.id) in {a["user_id"] for a in listed.json()["items"]}
    created = await api.post("/organizations", headers=person.headers, json=org)
    assert created.status_code == 201, created.text

    assert (await api.delete(path, headers=root.headers)).status_code == 204
    assert (await api.delete(path, headers=root.headers)).status_code == 404
    again = {**org, "name": "또 다른 학교"}
    assert (await api.post("/organizations", headers=person.headers, json=again)).status_code == 403
    missing = await api.put(f"/zones/{uuid.uuid4()}/admins/{person.id}", headers=root.headers)
    assert missing.status_code == 404
    audit = await factory.fetch(
        "SELECT action FROM audit_log WHERE action LIKE 'zone_admin.%' ORDER BY id"
    )
    assert [r["action"] for r in audit] == ["zone_admin.grant", "zone_admin.revoke"]
