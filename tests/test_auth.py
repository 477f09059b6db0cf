"""Register, login, refresh rotation and reuse detection, logout, token checks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest

from hub.settings import Settings
from tests.support import PASSWORD, Factory, FrozenClock, error_of

SIGNUP_CONSENTS = [
    {"kind": kind, "version": "2026-01", "granted": True}
    for kind in ("terms_of_service", "privacy_policy", "data_processing")
]
NEW_USER = {
    "email": "Minji.Kim@Example.com",
    "password": "s3cret-enough",
    "display_name": "김민지",
    "consents": SIGNUP_CONSENTS,
}


async def _login(api: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await api.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_register_creates_account_and_hashes_password(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Registering answers 202 accepted (the same as for a taken e-mail) and stores the
    e-mail lower-cased, the name and an argon2 hash; the account signs in."""
    response = await api.post("/auth/register", json=NEW_USER)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"
    assert "password" not in response.text
    row = await factory.fetch(
        "SELECT display_name, password_hash FROM users WHERE email = 'minji.kim@example.com'"
    )
    assert row[0]["display_name"] == "김민지"
    assert row[0]["password_hash"].startswith("$argon2id$")
    assert (await _login(api, "MINJI.KIM@example.com", "s3cret-enough"))["token_type"] == "bearer"


async def test_duplicate_email_is_answered_as_accepted_and_changes_nothing(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A second account with the same e-mail (any case) gets the same answer as the first,
    and no account changes (tests/test_account_enumeration.py: its owner is told)."""
    first = await api.post("/auth/register", json=NEW_USER)
    assert first.status_code == 202
    before = await factory.snapshot()
    response = await api.post("/auth/register", json={**NEW_USER, "email": "minji.kim@EXAMPLE.com"})
    assert (response.status_code, response.json()) == (202, first.json())
    assert await factory.snapshot() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({k: v for k, v in NEW_USER.items() if k != "email"}, "email"),
        ({**NEW_USER, "is_sys_admin": True}, "is_sys_admin"),
        ({**NEW_USER, "password": 12345678}, "password"),
        ({**NEW_USER, "password": "short"}, "password"),
        ({**NEW_USER, "display_name": "x" * 101}, "display_name"),
        ({**NEW_USER, "email": "not-an-email"}, "email"),
        ({**NEW_USER, "timezone": "Mars/Olympus"}, "timezone"),
        ({**NEW_USER, "language": "fr"}, "language"),
    ],
)
async def test_register_validation_names_the_field(
    api: httpx.AsyncClient, factory: Factory, body: dict[str, Any], field: str
) -> None:
    """Missing, extra, mistyped, too long or invalid fields get a 422 that names the field."""
    before = await factory.snapshot()
    response = await api.post("/auth/register", json=body)
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert field in [f["field"] for f in error["fields"]]
    assert field in error["message"]
    assert await factory.snapshot() == before


async def test_malformed_and_non_object_bodies(api: httpx.AsyncClient, factory: Factory) -> None:
    """Broken JSON is a 400; JSON that is not an object is a 422; nothing is stored."""
    before = await factory.snapshot()
    broken = await api.post(
        "/auth/register", content=b'{"email": ', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400 and error_of(broken)["code"] == "malformed_json"
    listed = await api.post("/auth/register", json=[NEW_USER])
    assert listed.status_code == 422 and error_of(listed)["code"] == "validation_error"
    binary = await api.post("/auth/register", content=b"\xff\xfe\x00garbage")
    assert binary.status_code == 400
    assert await factory.snapshot() == before


async def test_wrong_password_and_unknown_email_look_the_same(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Login failures give one 401 with no hint which part was wrong, and are audited."""
    org = await factory.org()
    user = await factory.user("student", org)
    wrong_password = await api.post(
        "/auth/login", json={"email": user.email, "password": "nope-nope"}
    )
    unknown = await api.post(
        "/auth/login", json={"email": "ghost@example.com", "password": PASSWORD}
    )
    assert wrong_password.status_code == unknown.status_code == 401
    assert error_of(wrong_password) == error_of(unknown)
    assert error_of(unknown)["code"] == "invalid_credentials"
    failures = await factory.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed'"
    )
    assert failures == 2
    assert await factory.fetchval("SELECT count(*) FROM sessions WHERE user_id = $1", user.id) == 1


async def test_refresh_rotates_and_reuse_revokes_the_family(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock, settings: Settings
) -> None:
    """Each refresh gives a new pair; replaying a used token after the reuse interval signs
    out the whole session."""
    user = await factory.user()
    first = await _login(api, user.email)
    rotated = await api.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await api.get("/users/me", headers=_bearer(second["access_token"]))).status_code == 200

    clock.advance(seconds=settings.refresh_reuse_interval_s + 1)
    replay = await api.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401 and error_of(replay)["code"] == "token_reused"
    # The thief's replay also burns the legitimate holder's newer token and access token.
    legit = await api.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert legit.status_code == 401 and error_of(legit)["code"] == "session_revoked"
    me = await api.get("/users/me", headers=_bearer(second["access_token"]))
    assert me.status_code == 401 and error_of(me)["code"] == "session_revoked"
    assert (
        await factory.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'auth.refresh_token_reused'"
        )
        == 1
    )


async def test_unknown_refresh_token_is_refused(api: httpx.AsyncClient, factory: Factory) -> None:
    """A refresh token we never issued is a 401 token_invalid."""
    response = await api.post("/auth/refresh", json={"refresh_token": "x" * 43})
    assert response.status_code == 401 and error_of(response)["code"] == "token_invalid"


async def test_refresh_token_expires(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock, settings: Settings
) -> None:
    """A refresh token older than its lifetime is refused as expired."""
    user = await factory.user()
    pair = await _login(api, user.email)
    clock.advance(seconds=settings.refresh_token_ttl_s + 1)
    response = await api.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 401 and error_of(response)["code"] == "token_expired"


async def test_logout_revokes_access_and_refresh(api: httpx.AsyncClient, factory: Factory) -> None:
    """After logout neither the access token nor the refresh token of that session works."""
    user = await factory.user()
    pair = await _login(api, user.email)
    assert (
        await api.post("/auth/logout", headers=_bearer(pair["access_token"]))
    ).status_code == 204
    me = await api.get("/users/me", headers=_bearer(pair["access_token"]))
    assert me.status_code == 401 and error_of(me)["code"] == "session_revoked"
    again = await api.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 401 and error_of(again)["code"] == "session_revoked"
    # Another session of the same user is untouched.
    assert (await api.get("/users/me", headers=user.headers)).status_code == 200


async def test_bad_access_tokens(
    api: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    """Expired, forged, wrong-algorithm, unsigned and missing tokens are all 401 with a code."""
    user = await factory.user()
    claims = jwt.decode(user.token, options={"verify_signature": False})
    expired = jwt.encode(
        {**claims, "exp": claims["iat"] - 10}, settings.jwt_secret, algorithm="HS256"
    )
    forged = jwt.encode(claims, "another-secret-of-sufficient-length-000", algorithm="HS256")
    hs384 = jwt.encode(claims, settings.jwt_secret, algorithm="HS384")
    unsigned = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    refresh_typed = jwt.encode({**claims, "typ": "refresh"}, settings.jwt_secret, algorithm="HS256")
    cases = {
        expired: "token_expired",
        forged: "token_invalid",
        hs384: "token_invalid",
        unsigned: "token_invalid",
        refresh_typed: "token_invalid",
        "garbage": "token_invalid",
    }
    for token, code in cases.items():
        response = await api.get("/users/me", headers=_bearer(token))
        assert response.status_code == 401, token
        assert error_of(response)["code"] == code, token
    missing = await api.get("/users/me")
    assert missing.status_code == 401 and error_of(missing)["code"] == "unauthenticated"
    assert missing.headers["www-authenticate"] == "Bearer"


async def test_update_me_profile(api: httpx.AsyncClient, factory: Factory) -> None:
    """PUT /users/me changes the given fields and keeps the others."""
    user = await factory.user()
    response = await api.put(
        "/users/me",
        headers=user.headers,
        json={"display_name": "Ms. Kim", "language": "en", "timezone": "UTC"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["display_name"], body["language"], body["timezone"]) == ("Ms. Kim", "en", "UTC")
    assert body["email"] == user.email


async def test_password_change_needs_current_and_revokes_other_sessions(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A wrong current password changes nothing; a right one signs out the other sessions."""
    user = await factory.user()
    other = await _login(api, user.email)
    missing = await api.put(
        "/users/me", headers=user.headers, json={"new_password": "brand-new-pass"}
    )
    assert missing.status_code == 422
    wrong = await api.put(
        "/users/me",
        headers=user.headers,
        json={"current_password": "wrong-one", "new_password": "brand-new-pass"},
    )
    assert wrong.status_code == 401 and error_of(wrong)["field"] == "current_password"
    await _login(api, user.email)  # the old password still works
    ok = await api.put(
        "/users/me",
        headers=user.headers,
        json={"current_password": PASSWORD, "new_password": "brand-new-pass"},
    )
    assert ok.status_code == 200, ok.text
    assert (await api.get("/users/me", headers=_bearer(other["access_token"]))).status_code == 401
    assert (await api.get("/users/me", headers=user.headers)).status_code == 200
    await _login(api, user.email, "brand-new-pass")


async def test_session_ttl_is_in_the_token(factory: Factory, settings: Settings) -> None:
    """Access tokens are short-lived: exp - iat equals the configured TTL."""
    user = await factory.user()
    claims = jwt.decode(user.token, settings.jwt_secret, algorithms=["HS256"])
    assert timedelta(seconds=claims["exp"] - claims["iat"]) == timedelta(
        seconds=settings.access_token_ttl_s
    )
