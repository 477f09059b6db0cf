"""Issue 13, found from outside: refresh rotation under two tabs, login throttling that does
not lock the owner out, and access tokens whose session does not exist."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from hub.clock import utc_now
from hub.context import HubContext
from hub.settings import Settings
from hub.tokens import TokenIssuer
from tests.sockets import Client, Refused
from tests.support import PASSWORD, Factory, FrozenClock, error_of


@pytest.fixture
def tight(hub_ctx: HubContext) -> Iterator[Settings]:
    """Small login budgets for one test (3 free failures, 8 per account, 6 per address)."""
    original = hub_ctx.settings
    hub_ctx.settings = original.model_copy(
        update={
            "login_free_failures": 3,
            "login_failures_per_account": 8,
            "login_failures_per_ip": 6,
        }
    )
    yield hub_ctx.settings
    hub_ctx.settings = original


@pytest.fixture
async def from_address(
    hub_server: tuple[str, Any], clean: None
) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """REST clients that connect from another loopback address (127.0.0.x): other people."""
    clients: list[httpx.AsyncClient] = []

    def make(address: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            base_url=hub_server[0] + "/api/v1",
            transport=httpx.AsyncHTTPTransport(local_address=address),
            timeout=10,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/auth/login", json={"email": email, "password": password})


# --- refresh rotation ----------------------------------------------------------------------


async def test_two_tabs_refreshing_at_once_get_the_same_new_pair(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Two concurrent refreshes with one token both succeed with one pair, which stays valid."""
    user = await factory.user()
    pair = (await _login(api, user.email, PASSWORD)).json()
    first, second = await asyncio.gather(
        api.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}),
        api.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}),
    )
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    assert first.json() == second.json()
    fresh = first.json()
    me = await api.get("/users/me", headers={"Authorization": f"Bearer {fresh['access_token']}"})
    assert me.status_code == 200, me.text
    onward = await api.post("/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
    assert onward.status_code == 200, onward.text


async def test_reuse_after_the_interval_still_revokes_the_family(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock, settings: Settings
) -> None:
    """A second use inside the interval gets the same pair; one after it revokes the session."""
    user = await factory.user()
    pair = (await _login(api, user.email, PASSWORD)).json()
    rotated = await api.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    clock.advance(seconds=settings.refresh_reuse_interval_s - 1)
    again = await api.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.json() == rotated.json()
    clock.advance(seconds=2)
    late = await api.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert late.status_code == 401 and error_of(late)["code"] == "token_reused"
    newest = await api.post(
        "/auth/refresh", json={"refresh_token": rotated.json()["refresh_token"]}
    )
    assert newest.status_code == 401 and error_of(newest)["code"] == "session_revoked"


# --- login throttling ----------------------------------------------------------------------


async def test_guessing_one_account_backs_off_that_address_only(
    from_address: Callable[[str], httpx.AsyncClient],
    factory: Factory,
    clock: FrozenClock,
    tight: Settings,
) -> None:
    """Past the free failures the guesser's address waits, doubling; the owner elsewhere signs
    in at once with the right password, and the guesser's wait ends with the clock."""
    victim = await factory.user()
    attacker, owner = from_address("127.0.0.2"), from_address("127.0.0.3")
    codes = [(await _login(attacker, victim.email, "wrong-guess")).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 401]  # 3 free; the 4th starts a 1 s wait
    held = await _login(attacker, victim.email, PASSWORD)
    assert held.status_code == 429 and error_of(held)["retry_after"] >= 1
    assert held.headers["retry-after"]
    assert (await _login(owner, victim.email, PASSWORD)).status_code == 200
    clock.advance(seconds=1.5)
    assert (await _login(attacker, victim.email, "wrong-again")).status_code == 401
    second_wait = await _login(attacker, victim.email, PASSWORD)
    assert second_wait.status_code == 429
    assert error_of(second_wait)["retry_after"] >= 2  # doubled
    clock.advance(seconds=2.5)
    assert (await _login(attacker, victim.email, PASSWORD)).status_code == 200


async def test_spread_guessing_leaves_the_owners_known_address_working(
    from_address: Callable[[str], httpx.AsyncClient],
    factory: Factory,
    tight: Settings,
) -> None:
    """Past the per-account budget (guessers at many addresses) a new address is refused, the
    address the owner signed in from before is not."""
    victim = await factory.user()
    owner = from_address("127.0.0.9")
    assert (await _login(owner, victim.email, PASSWORD)).status_code == 200
    for n in range(tight.login_failures_per_account):
        guesser = from_address(f"127.0.1.{n + 1}")
        assert (await _login(guesser, victim.email, "wrong-guess")).status_code == 401
    stranger = await _login(from_address("127.0.2.1"), victim.email, PASSWORD)
    assert stranger.status_code == 429
    assert (await _login(owner, victim.email, PASSWORD)).status_code == 200


async def test_one_guesser_behind_a_shared_address_does_not_block_known_users(
    from_address: Callable[[str], httpx.AsyncClient],
    factory: Factory,
    tight: Settings,
) -> None:
    """A school's shared address: one pupil spraying many accounts exhausts the address's
    budget; a classmate who signed in from it before still gets in, a first-timer waits."""
    school = from_address("127.0.3.1")
    classmate, newcomer = await factory.user(), await factory.user()
    assert (await _login(school, classmate.email, PASSWORD)).status_code == 200
    for n in range(tight.login_failures_per_ip):
        sprayed = await _login(school, f"target{n}@test.dreamseed.kr", "wrong-guess")
        assert sprayed.status_code == 401
    assert (await _login(school, classmate.email, PASSWORD)).status_code == 200
    assert (await _login(school, newcomer.email, PASSWORD)).status_code == 429


# --- sessions that do not exist ------------------------------------------------------------


async def test_a_token_whose_session_does_not_exist_is_refused(
    api: httpx.AsyncClient, hub_server: tuple[str, Any], factory: Factory, settings: Settings
) -> None:
    """A well-signed token naming an unknown session, or a deleted one, is 401 token_invalid
    over REST and refused at the socket handshake."""
    user = await factory.user()
    issuer = TokenIssuer(settings.jwt_secret, settings.access_token_ttl_s)
    invented = issuer.issue_access(user.id, uuid.uuid4(), utc_now())
    other = await factory.user()
    borrowed = issuer.issue_access(user.id, other.session_id, utc_now())  # someone else's session
    await factory.fetch("DELETE FROM sessions WHERE id = $1", user.session_id)
    for token in (invented, borrowed, user.token):
        response = await api.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert error_of(response)["code"] == "token_invalid"
        with pytest.raises(Refused) as refused:
            await Client().connect(hub_server[0], token)
        assert refused.value.data["data"]["code"] == "token_invalid"
