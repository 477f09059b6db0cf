"""Issue 13, section 4: attacks on access tokens, over REST and at the socket handshake.

(Expired, forged, HS384-signed and refresh-typed JWTs are in tests/test_auth.py; two tabs
refreshing at once in tests/test_hardening_auth.py.)
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest

from hub.clock import utc_now
from hub.settings import Settings
from tests.sockets import Client, Refused
from tests.support import PASSWORD, Factory, User, error_of


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unb64(segment: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


async def _refused_everywhere(api: httpx.AsyncClient, hub_url: str, token: str, code: str) -> None:
    """REST answers 401 with `code`; the socket handshake is refused with it too."""
    response = await api.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, token
    assert error_of(response)["code"] == code, token
    with pytest.raises(Refused) as refused:
        await Client().connect(hub_url, token)
    assert refused.value.data["data"]["code"] == code, token


async def test_alg_none_and_a_tampered_payload_are_refused(
    api: httpx.AsyncClient, hub_server: tuple[str, Any], factory: Factory
) -> None:
    """An unsigned token (alg none, any spelling) and a payload swapped under a valid
    signature (sub changed to another user) are both token_invalid."""
    user, other = await factory.user(), await factory.user()
    header, payload, signature = user.token.split(".")
    claims = _unb64(payload)
    for alg in ("none", "None", "NONE"):
        unsigned = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{payload}."
        await _refused_everywhere(api, hub_server[0], unsigned, "token_invalid")
    tampered = f"{header}.{_b64({**claims, 'sub': str(other.id)})}.{signature}"
    await _refused_everywhere(api, hub_server[0], tampered, "token_invalid")


async def test_a_refresh_token_is_not_an_access_token(
    api: httpx.AsyncClient, hub_server: tuple[str, Any], factory: Factory
) -> None:
    """The opaque refresh token of a real login, sent as a bearer token, is token_invalid."""
    user = await factory.user()
    login = await api.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    await _refused_everywhere(api, hub_server[0], login.json()["refresh_token"], "token_invalid")


async def test_not_yet_valid_tokens_are_refused(
    api: httpx.AsyncClient, hub_server: tuple[str, Any], factory: Factory, settings: Settings
) -> None:
    """A token signed with our secret but valid only from the future (nbf, or iat ahead of
    the clock) is token_invalid."""
    user = await factory.user()
    claims = jwt.decode(user.token, options={"verify_signature": False})
    future = int((utc_now() + timedelta(minutes=10)).timestamp())
    for changed in ({"nbf": future}, {"iat": future, "exp": future + 900}):
        token = jwt.encode({**claims, **changed}, settings.jwt_secret, algorithm="HS256")
        await _refused_everywhere(api, hub_server[0], token, "token_invalid")


async def test_a_deleted_users_token_is_refused(
    api: httpx.AsyncClient, hub_server: tuple[str, Any], factory: Factory
) -> None:
    """An account marked deleted (even where no revocation was recorded) cannot use the
    tokens it still holds: its session is refused."""
    user = await factory.user()
    assert (await api.get("/users/me", headers=user.headers)).status_code == 200
    await factory.fetch("UPDATE users SET deleted_at = now() WHERE id = $1", user.id)
    await _refused_everywhere(api, hub_server[0], user.token, "session_revoked")


async def test_a_live_socket_does_not_outlive_logout(
    api: httpx.AsyncClient,
    hub_server: tuple[str, Any],
    factory: Factory,
    connect: Callable[[User], Awaitable[Client]],
) -> None:
    """Logging out closes the session's open socket (told why) and its token cannot open
    another or renew one with auth.refresh."""
    user = await factory.user()
    other_session = await factory.user()
    client = await connect(user)
    kept = await connect(other_session)
    assert (await api.post("/auth/logout", headers=user.headers)).status_code == 204
    assert (await client.next("session.closed")) == {"reason": "logout"}
    await client.disconnected.wait()
    await _refused_everywhere(api, hub_server[0], user.token, "session_revoked")
    renewal = await kept.call("auth.refresh", {"access_token": user.token})
    assert renewal["error"]["code"] in ("forbidden", "session_revoked")
