"""Consent history and the audit log, read by system and zone administrators."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from tests.support import PASSWORD, Factory, FrozenClock, User, error_of

PRIVACY = {"kind": "privacy_policy", "version": "2025-03", "granted": True}


async def _consent(api: httpx.AsyncClient, user: User, **body: Any) -> dict[str, Any]:
    response = await api.post("/consents", headers=user.headers, json={**PRIVACY, **body})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def _audit_entry(factory: Factory, action: str, zone_id: UUID | None = None) -> int:
    entry_id: int = await factory.fetchval(
        "INSERT INTO audit_log (action, zone_id, details) VALUES ($1, $2, $3::jsonb) RETURNING id",
        action,
        zone_id,
        json.dumps({"n": action}),
    )
    return entry_id


async def _audit_ids(api: httpx.AsyncClient, user: User, **params: Any) -> list[int]:
    response = await api.get("/audit-log", headers=user.headers, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


# --- consents ------------------------------------------------------------------------------


async def test_record_consent(api: httpx.AsyncClient, factory: Factory, clock: FrozenClock) -> None:
    """A consent is stored with the time, address and client that gave it, and audited."""
    user = await factory.user()
    response = await api.post(
        "/consents",
        headers={**user.headers, "User-Agent": "DreamSeed/2.1"},
        json={"kind": "marketing", "version": "v7", "granted": False},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["kind"], body["version"], body["granted"]) == ("marketing", "v7", False)
    assert datetime.fromisoformat(body["recorded_at"]) == clock.now
    [row] = await factory.fetch("SELECT id, user_id, host(ip) AS ip, user_agent FROM consents")
    assert (row["id"], row["user_id"]) == (body["id"], user.id)
    assert (row["ip"], row["user_agent"]) == ("127.0.0.1", "DreamSeed/2.1")
    [entry] = await factory.fetch(
        "SELECT actor_id, target_id, details::text FROM audit_log WHERE action = 'consent.record'"
    )
    assert (entry["actor_id"], entry["target_id"]) == (user.id, str(body["id"]))
    assert json.loads(entry["details"]) == {"kind": "marketing", "version": "v7", "granted": False}


async def test_consent_history_is_newest_first_and_private(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock
) -> None:
    """GET /consents lists only my decisions, newest first (same instant: later record first)."""
    user, other = await factory.user(), await factory.user()
    first = await _consent(api, user, version="1")
    clock.advance(days=30)
    second = await _consent(api, user, kind="terms_of_service", version="2")
    third = await _consent(api, user, kind="marketing", version="3", granted=False)
    await _consent(api, other)
    response = await api.get("/consents", headers=user.headers)
    assert response.status_code == 200, response.text
    assert response.json()["items"] == [third, second, first]
    theirs = await api.get("/consents", headers=other.headers)
    assert [c["version"] for c in theirs.json()["items"]] == ["2025-03"]


async def test_consent_history_starts_empty(api: httpx.AsyncClient, factory: Factory) -> None:
    """A user who never decided anything has an empty history."""
    user = await factory.user()
    response = await api.get("/consents", headers=user.headers)
    assert response.status_code == 200
    assert response.json() == {"items": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**PRIVACY, "kind": "cookies"}, "kind"),
        ({**PRIVACY, "version": ""}, "version"),
        ({**PRIVACY, "version": "v" * 41}, "version"),
        ({**PRIVACY, "granted": "perhaps"}, "granted"),
        ({"kind": "marketing", "version": "1"}, "granted"),
        ({**PRIVACY, "source": "school"}, "source"),  # a client cannot claim a source
    ],
)
async def test_consent_validation_names_the_field(
    api: httpx.AsyncClient, factory: Factory, body: dict[str, Any], field: str
) -> None:
    """A bad kind, version, granted or an extra field is 422 naming it; nothing is stored."""
    user = await factory.user()
    response = await api.post("/consents", headers=user.headers, json=body)
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert [f["field"] for f in error["fields"]] == [field]
    assert await factory.fetchval("SELECT count(*) FROM consents") == 0


async def test_consents_need_a_token(api: httpx.AsyncClient, factory: Factory) -> None:
    """Recording or reading consents without signing in is 401."""
    assert (await api.post("/consents", json=PRIVACY)).status_code == 401
    assert (await api.get("/consents")).status_code == 401
    assert await factory.fetchval("SELECT count(*) FROM consents") == 0


# --- the audit log -------------------------------------------------------------------------


async def test_sys_admin_sees_every_entry(api: httpx.AsyncClient, factory: Factory) -> None:
    """A system administrator sees entries of every zone and of none, newest first."""
    kzone, univ = await factory.zone("kzone"), await factory.zone("univprep")
    ids = [
        await _audit_entry(factory, "a", kzone),
        await _audit_entry(factory, "b", univ),
        await _audit_entry(factory, "c", None),
    ]
    admin = await factory.user(sys_admin=True)
    assert await _audit_ids(api, admin) == ids[::-1]
    response = await api.get("/audit-log", headers=admin.headers)
    assert response.json()["next_before_id"] is None
    newest = response.json()["items"][0]
    assert (newest["action"], newest["zone_id"], newest["details"]) == ("c", None, {"n": "c"})


async def test_zone_admin_sees_only_their_zone(api: httpx.AsyncClient, factory: Factory) -> None:
    """A zone administrator sees their zone's entries, not other zones' nor zone-less ones."""
    kzone, univ = await factory.zone("kzone"), await factory.zone("univprep")
    mine = [await _audit_entry(factory, "a", kzone), await _audit_entry(factory, "b", kzone)]
    await _audit_entry(factory, "c", univ)
    await _audit_entry(factory, "d", None)
    admin = await factory.user(zone_admin_of=kzone)
    assert await _audit_ids(api, admin) == mine[::-1]
    # Asking for another zone by filter does not get past row-level security.
    assert await _audit_ids(api, admin, zone_id=str(univ)) == []
    assert await _audit_ids(api, admin, zone_id=str(kzone)) == mine[::-1]


async def test_zone_admin_sees_entries_the_app_writes(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A membership granted in a zone's org shows up for that zone's administrator only."""
    org = await factory.org(zone="kzone")
    org_admin = await factory.user("org_admin", org)
    person = await factory.user("student", org)
    granted = await api.post(
        f"/organizations/{org.id}/members",
        headers=org_admin.headers,
        json={"user_id": str(person.id), "role": "teacher"},
    )
    assert granted.status_code == 201, granted.text
    kzone_admin = await factory.user(zone_admin_of=org.zone_id)
    univ_admin = await factory.user(zone_admin_of=await factory.zone("univprep"))
    response = await api.get("/audit-log", headers=kzone_admin.headers)
    [entry] = response.json()["items"]
    assert (entry["action"], entry["org_id"]) == ("membership.grant", str(org.id))
    assert (entry["actor_id"], entry["ip"]) == (str(org_admin.id), "127.0.0.1")
    assert await _audit_ids(api, univ_admin) == []


@pytest.mark.parametrize("role", ["student", "teacher", "org_admin", "parent"])
async def test_members_cannot_read_audit_log(
    api: httpx.AsyncClient, factory: Factory, role: str
) -> None:
    """Students, teachers, parents and org admins get 403 forbidden."""
    org = await factory.org()
    await _audit_entry(factory, "x", org.zone_id)
    user = await factory.user(role, org)
    response = await api.get("/audit-log", headers=user.headers)
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"


async def test_audit_log_needs_a_token(api: httpx.AsyncClient) -> None:
    """Reading the audit log without signing in is 401."""
    assert (await api.get("/audit-log")).status_code == 401


async def test_audit_log_pages_by_before_id(api: httpx.AsyncClient, factory: Factory) -> None:
    """limit and before_id walk the log newest first; the last page has no next_before_id."""
    ids = [await _audit_entry(factory, f"e{i}") for i in range(5)]
    admin = await factory.user(sys_admin=True)
    pages: list[list[int]] = []
    nexts: list[int | None] = []
    params: dict[str, Any] = {"limit": 2}
    for _ in range(3):
        response = await api.get("/audit-log", headers=admin.headers, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append([item["id"] for item in page["items"]])
        nexts.append(page["next_before_id"])
        params["before_id"] = page["next_before_id"]
    newest_first = ids[::-1]
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:]]
    assert nexts == [newest_first[1], newest_first[3], None]


async def test_audit_log_page_that_fills_exactly(api: httpx.AsyncClient, factory: Factory) -> None:
    """When the entries fit the limit exactly there is no next page to ask for."""
    ids = [await _audit_entry(factory, f"e{i}") for i in range(3)]
    admin = await factory.user(sys_admin=True)
    response = await api.get("/audit-log", headers=admin.headers, params={"limit": 3})
    assert [i["id"] for i in response.json()["items"]] == ids[::-1]
    assert response.json()["next_before_id"] is None
    older = await api.get("/audit-log", headers=admin.headers, params={"before_id": ids[0]})
    assert older.json() == {"items": [], "next_before_id": None}


async def test_audit_log_filters_by_action(api: httpx.AsyncClient, factory: Factory) -> None:
    """The action parameter keeps only entries with that exact action."""
    wanted = await _audit_entry(factory, "user.register")
    await _audit_entry(factory, "user.register_extra")
    admin = await factory.user(sys_admin=True)
    assert await _audit_ids(api, admin, action="user.register") == [wanted]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"before_id": 0}, "before_id"),
        ({"zone_id": "kzone"}, "zone_id"),
        ({"page": 2}, "page"),
    ],
)
async def test_audit_log_query_is_validated(
    api: httpx.AsyncClient, factory: Factory, params: dict[str, Any], field: str
) -> None:
    """A bad or unknown query parameter is 422 naming it."""
    admin = await factory.user(sys_admin=True)
    response = await api.get("/audit-log", headers=admin.headers, params=params)
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert [f["field"] for f in error["fields"]] == [field]


async def test_login_is_audited(api: httpx.AsyncClient, factory: Factory) -> None:
    """A successful login writes 'auth.login' for the user, which a system admin can read."""
    user = await factory.user()
    response = await api.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    [row] = await factory.fetch(
        "SELECT actor_id, target_type, target_id, host(ip) AS ip, zone_id "
        "FROM audit_log WHERE action = 'auth.login'"
    )
    assert tuple(row) == (user.id, "user", str(user.id), "127.0.0.1", None)
    admin = await factory.user(sys_admin=True)
    listed = await api.get("/audit-log", headers=admin.headers, params={"action": "auth.login"})
    [entry] = listed.json()["items"]
    assert entry["actor_id"] == str(user.id)


async def test_failed_login_is_audited(api: httpx.AsyncClient, factory: Factory) -> None:
    """A wrong password is 401 and writes 'auth.login_failed', not 'auth.login'."""
    user = await factory.user()
    response = await api.post("/auth/login", json={"email": user.email, "password": "wrong" * 3})
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_credentials"
    actions = await factory.fetch("SELECT action, actor_id FROM audit_log")
    assert [tuple(a) for a in actions] == [("auth.login_failed", user.id)]
