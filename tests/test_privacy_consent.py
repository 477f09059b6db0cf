"""Consent at sign-up: terms, privacy and data processing are mandatory in their current
version and recorded with the address; withdrawing push consent stops pushes."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import Factory, error_of

REQUIRED = ("terms_of_service", "privacy_policy", "data_processing")


def _body(consents: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "email": "seoyeon@example.com",
        "password": "s3cret-enough",
        "display_name": "이서연",
        "consents": consents,
    }


def _granted(*kinds: str, version: str = "2026-01") -> list[dict[str, Any]]:
    return [{"kind": k, "version": version, "granted": True} for k in kinds]


async def test_sign_up_without_every_required_consent_is_refused(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """No consents, one missing, one refused or an old version: 422 naming what is missing."""
    before = await factory.snapshot()
    absent = await api.post("/auth/register", json={**_body([]), "consents": None})
    assert absent.status_code == 422 and error_of(absent)["code"] == "validation_error"
    for consents, missing in (
        ([], list(REQUIRED)),
        (_granted("terms_of_service", "privacy_policy"), ["data_processing"]),
        (
            [*_granted("terms_of_service", "data_processing"),
             {"kind": "privacy_policy", "version": "2026-01", "granted": False}],
            ["privacy_policy"],
        ),
        (_granted(*REQUIRED, version="2025-01"), list(REQUIRED)),
    ):  # fmt: skip
        refused = await api.post("/auth/register", json=_body(consents))
        assert refused.status_code == 422, refused.text
        error = error_of(refused)
        assert error["field"] == "consents" and error["missing"] == missing
    assert await factory.snapshot() == before


async def test_sign_up_records_each_consent_with_its_version_and_address(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """The three required consents (and an optional refusal of marketing) are stored."""
    consents = [
        *_granted(*REQUIRED),
        {"kind": "marketing", "version": "2026-01", "granted": False},
    ]
    done = await api.post("/auth/register", json=_body(consents))
    assert done.status_code == 202, done.text
    rows = await factory.fetch(
        "SELECT kind, version, granted, host(ip) AS ip FROM consents "
        "WHERE user_id = (SELECT id FROM users WHERE email = $1) ORDER BY kind",
        "seoyeon@example.com",
    )
    assert [(r["kind"], r["granted"]) for r in rows] == [
        ("data_processing", True),
        ("marketing", False),
        ("privacy_policy", True),
        ("terms_of_service", True),
    ]
    assert {r["ip"] for r in rows} == {"127.0.0.1"} and {r["version"] for r in rows} == {"2026-01"}


async def test_withdrawing_push_consent_forgets_the_devices(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """After withdrawal no device token of the person is kept, so nothing is pushed."""
    org = await factory.org()
    user = await factory.user("student", org)
    await factory.fetch(
        "INSERT INTO devices (token, user_id, platform) VALUES ('tok-1', $1, 'ios')", user.id
    )
    withdrawn = await api.post(
        "/consents",
        json={"kind": "push_notifications", "version": "2026-01", "granted": False},
        headers=user.headers,
    )
    assert withdrawn.status_code == 201, withdrawn.text
    assert await factory.fetchval("SELECT count(*) FROM devices WHERE user_id = $1", user.id) == 0


CURRENT = "2026-01"


def _login(user: Any, consents: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "email": user.email,
        "password": user.password,
        **({"consents": consents} if consents else {}),
    }


async def test_withdrawing_a_required_consent_closes_the_account_until_granted_again(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Every session ends, devices are forgotten; sign-in is consent_required (an old version
    does not count) until the consent is sent again with it."""
    org = await factory.org()
    user = await factory.user("student", org)
    other_session = await api.post("/auth/login", json=_login(user))
    assert other_session.status_code == 200, other_session.text
    await factory.fetch(
        "INSERT INTO devices (token, user_id, platform) VALUES ('tok-2', $1, 'ios')", user.id
    )
    withdrawn = await api.post(
        "/consents",
        json={"kind": "privacy_policy", "version": CURRENT, "granted": False},
        headers=user.headers,
    )
    assert withdrawn.status_code == 201, withdrawn.text
    assert withdrawn.json()["source"] == "self"
    me = await api.get("/users/me", headers=user.headers)
    assert me.status_code == 401 and error_of(me)["code"] == "session_revoked"
    refreshed = await api.post(
        "/auth/refresh", json={"refresh_token": other_session.json()["refresh_token"]}
    )
    assert refreshed.status_code == 401 and error_of(refreshed)["code"] == "session_revoked"
    assert await factory.fetchval("SELECT count(*) FROM devices WHERE user_id = $1", user.id) == 0

    refused = await api.post("/auth/login", json=_login(user))
    assert refused.status_code == 403, refused.text
    error = error_of(refused)
    assert error["code"] == "consent_required"
    assert (error["missing"], error["version"]) == (["privacy_policy"], CURRENT)
    old = await api.post(
        "/auth/login", json=_login(user, _granted("privacy_policy", version="2025-01"))
    )
    assert old.status_code == 403 and error_of(old)["missing"] == ["privacy_policy"]

    again = await api.post("/auth/login", json=_login(user, _granted("privacy_policy")))
    assert again.status_code == 200, again.text
    token = {"Authorization": f"Bearer {again.json()['access_token']}"}
    assert (await api.get("/users/me", headers=token)).status_code == 200
    sessions = await factory.fetch(
        "SELECT revoked_reason FROM sessions WHERE user_id = $1 AND revoked_at IS NOT NULL",
        user.id,
    )
    assert [r["revoked_reason"] for r in sessions] == ["consent_withdrawn"] * 2


async def test_a_parent_decides_for_a_linked_child_and_nobody_else_does(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A parent with an approved link withdraws and grants the child's consent (source
    'parent'); the child is blocked in between; a stranger is refused and stores nothing."""
    org = await factory.org()
    child, parent, stranger = [await factory.user("student", org) for _ in range(3)]
    await factory.fetch(
        """INSERT INTO parent_links (org_id, zone_id, parent_id, student_id, status,
                                     requested_at, expires_at)
           VALUES ($1, $2, $3, $4, 'approved', now(), now() + interval '7 days')""",
        org.id,
        org.zone_id,
        parent.id,
        child.id,
    )
    decision = {"kind": "data_processing", "version": CURRENT, "user_id": str(child.id)}
    refused = await api.post(
        "/consents", json={**decision, "granted": False}, headers=stranger.headers
    )
    assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden"
    assert await factory.fetchval("SELECT count(*) FROM consents") == 0

    withdrawn = await api.post(
        "/consents", json={**decision, "granted": False}, headers=parent.headers
    )
    assert withdrawn.status_code == 201, withdrawn.text
    assert (withdrawn.json()["source"], withdrawn.json()["user_id"]) == ("parent", str(child.id))
    blocked = await api.post("/auth/login", json=_login(child))
    assert blocked.status_code == 403 and error_of(blocked)["missing"] == ["data_processing"]
    granted = await api.post(
        "/consents", json={**decision, "granted": True}, headers=parent.headers
    )
    assert granted.status_code == 201, granted.text
    assert (await api.post("/auth/login", json=_login(child))).status_code == 200
    assert await factory.fetchval(
        "SELECT array_agg(DISTINCT recorded_by) FROM consents WHERE user_id = $1", child.id
    ) == [parent.id]


async def test_a_person_who_cannot_sign_in_can_still_erase_the_account(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """POST /auth/erasure: a wrong password is refused and erases nothing; the right one
    erases the account (the e-mail is freed, the proof names no one)."""
    org = await factory.org()
    user = await factory.user("student", org)
    await factory.fetch(
        """INSERT INTO consents (user_id, kind, version, granted)
           VALUES ($1, 'terms_of_service', $2, false)""",
        user.id,
        CURRENT,
    )
    body = {"email": user.email, "password": "not the password", "confirm": "erase my account"}
    wrong = await api.post("/auth/erasure", json=body)
    assert wrong.status_code == 401 and error_of(wrong)["code"] == "invalid_credentials"
    assert await factory.fetchval("SELECT count(*) FROM erasures") == 0
    done = await api.post("/auth/erasure", json={**body, "password": user.password})
    assert done.status_code == 204, done.text
    row = await factory.fetch(
        "SELECT status, requested_role, requested_by FROM erasures WHERE subject_id = $1", user.id
    )
    assert [tuple(r) for r in row] == [("done", "self", user.id)]
    assert await factory.fetchval("SELECT email FROM users WHERE id = $1", user.id) == (
        f"erased-{user.id}@invalid"
    )
