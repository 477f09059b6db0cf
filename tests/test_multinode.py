"""Two or more hub processes sharing PostgreSQL and Redis behave as one hub."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.context import HubContext
from hub.settings import Settings
from tests.hubs import HubProcess, start_hubs
from tests.sockets import Client
from tests.support import Factory, User


@pytest.fixture(scope="module")
def hubs(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[HubProcess]]:
    started = start_hubs(settings, 2, tmp_path_factory.mktemp("hubs"))
    yield started
    for hub in started:
        hub.stop()


@pytest.fixture
def doomed_hubs(settings: Settings, tmp_path: Path, clean: None) -> Iterator[list[HubProcess]]:
    """A fresh pair for tests that kill one."""
    started = start_hubs(settings, 2, tmp_path)
    yield started
    for hub in started:
        hub.stop()


@pytest.fixture
async def clients(clean: None) -> AsyncIterator[list[Client]]:
    opened: list[Client] = []
    yield opened
    for client in opened:
        await client.close()


async def _open(clients: list[Client], hub: HubProcess | str, user: User) -> Client:
    client = Client()
    clients.append(client)
    return await client.connect(hub if isinstance(hub, str) else hub.url, user.token)


def _send(conv: Any, text: str, client_msg_id: str | None = None) -> dict[str, Any]:
    return {
        "conversation_id": str(conv),
        "client_msg_id": client_msg_id or uuid.uuid4().hex,
        "content": text,
    }


async def test_message_sent_on_hub_a_reaches_hub_b_exactly_once(
    hubs: list[HubProcess], clients: list[Client], factory: Factory
) -> None:
    """A student on hub A asks; the teacher on hub B gets it once, and the answer comes back."""
    org = await factory.org()
    teacher, student = await factory.user("teacher", org), await factory.user("student", org)
    conv = await factory.conversation("direct", org, [], [teacher, student])
    s = await _open(clients, hubs[0], student)
    t = await _open(clients, hubs[1], teacher)
    ack = await s.call("message.send", _send(conv, "17:30 질문: 2번 문제요"))
    got = await t.next("message.new")
    assert got["id"] == ack["id"] and got["seq"] == 1
    assert (await s.next("message.new"))["id"] == ack["id"]  # the sender's other devices too
    answer = await t.call("message.send", _send(conv, "2번은 이렇게 풀어요"))
    assert (await s.next("message.new"))["id"] == answer["id"]
    await asyncio.sleep(0.2)
    assert t.pending("message.new") == 1  # its own answer, and nothing twice
    assert (await t.next("message.new"))["id"] == answer["id"]


async def test_logout_on_one_hub_closes_sockets_on_another(
    hubs: list[HubProcess], clients: list[Client], factory: Factory
) -> None:
    """Logging out through hub A disconnects the session's socket held by hub B."""
    user = await factory.user()
    sock = await _open(clients, hubs[1], user)
    async with httpx.AsyncClient(base_url=hubs[0].url) as http:
        response = await http.post("/api/v1/auth/logout", headers=user.headers)
    assert response.status_code == 204
    assert (await sock.next("session.closed"))["reason"] == "logout"
    await asyncio.wait_for(sock.disconnected.wait(), 5)


async def test_membership_change_on_one_hub_joins_rooms_on_another(
    hubs: list[HubProcess], clients: list[Client], factory: Factory
) -> None:
    """A participant added through hub A starts hearing the room on hub B at once."""
    org = await factory.org()
    teacher, newcomer = await factory.user("teacher", org), await factory.user("student", org)
    conv = await factory.conversation("group", org, [teacher], [])
    n = await _open(clients, hubs[1], newcomer)
    async with httpx.AsyncClient(base_url=hubs[0].url) as http:
        added = await http.post(
            f"/api/v1/conversations/{conv}/participants",
            headers=teacher.headers,
            json={"user_ids": [str(newcomer.id)]},
        )
    assert added.status_code == 201, added.text
    t = await _open(clients, hubs[0], teacher)
    ack = await t.call("message.send", _send(conv, "welcome"))
    assert (await n.next("message.new"))["id"] == ack["id"]


async def test_sigkill_during_a_stream_loses_no_acknowledged_message(
    doomed_hubs: list[HubProcess], clients: list[Client], factory: Factory
) -> None:
    """Kill the sender's hub mid-stream: it reconnects to the other, resends, nothing is lost."""
    survivor, victim = doomed_hubs
    org = await factory.org()
    teacher, student = await factory.user("teacher", org), await factory.user("student", org)
    conv = await factory.conversation("direct", org, [], [teacher, student])
    receiver = await _open(clients, survivor, teacher)
    sender = await _open(clients, victim, student)
    acked: dict[int, dict[str, Any]] = {}
    total, killed = 120, False
    for i in range(total):
        payload = _send(conv, f"m{i}", f"stream-{i}")
        while True:
            try:
                ack = await sender.call("message.send", payload, timeout=2)
                if "error" in ack and ack["error"]["code"] == "rate_limited":
                    await asyncio.sleep(ack["error"]["retry_after"])
                    continue
                acked[i] = ack
                break
            except Exception:
                # The hub died under us: reconnect to the survivor and resend the same id.
                sender = await _open(clients, survivor, student)
        if i == 40 and not killed:
            victim.kill()
            killed = True
    assert killed and len(acked) == total
    assert sorted(a["seq"] for a in acked.values()) == list(range(1, total + 1))
    state = await receiver.call("sync", {"conversations": {str(conv): 0}, "limit": 100})
    seen = state["conversations"][str(conv)]["messages"]
    more = await receiver.call("sync", {"conversations": {str(conv): seen[-1]["seq"]}})
    seen += more["conversations"][str(conv)]["messages"]
    assert [m["content"] for m in seen] == [f"m{i}" for i in range(total)]
    assert await factory.fetchval("SELECT count(*) FROM messages") == total


async def test_presence_goes_offline_after_a_hub_crash(
    doomed_hubs: list[HubProcess], clients: list[Client], factory: Factory, settings: Settings
) -> None:
    """A crashed hub's users go offline by themselves and their contacts are told."""
    survivor, victim = doomed_hubs
    org = await factory.org()
    teacher, student = await factory.user("teacher", org), await factory.user("student", org)
    await factory.conversation("direct", org, [], [teacher, student])
    t = await _open(clients, survivor, teacher)
    await _open(clients, victim, student)
    assert (await t.next("user.online"))["user_id"] == str(student.id)
    crashed_at = time.monotonic()
    victim.kill()
    offline = await t.next("user.offline", timeout=settings.presence_ttl_s * 5)
    assert offline["user_id"] == str(student.id)
    assert time.monotonic() - crashed_at < 30
    state = await t.call("presence.query", {"user_ids": [str(student.id)]})
    assert state["users"][str(student.id)]["online"] is False


async def test_deaf_listener_fails_readiness_and_is_rebuilt(
    hubs: list[HubProcess],
    clients: list[Client],
    factory: Factory,
    hub_server: tuple[str, Any],
    hub_ctx: HubContext,
) -> None:
    """A listener that silently stops hearing the bus turns /readyz red, then is rebuilt."""
    manager = hub_server[1].other_asgi_app.state.bus_manager
    org = await factory.org()
    teacher, student = await factory.user("teacher", org), await factory.user("student", org)
    conv = await factory.conversation("direct", org, [], [teacher, student])
    watchdog = manager._watchdog
    watchdog.cancel()
    await manager.pubsub.unsubscribe(manager.channel)  # deaf, while Redis still answers pings
    async with httpx.AsyncClient(base_url=hub_server[0]) as http:
        for _ in range(100):
            if (await http.get("/readyz")).status_code == 503:
                break
            await asyncio.sleep(0.05)
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["bus"] is False
        rebuilds = manager.rebuilds
        manager.start_watchdog()
        for _ in range(100):
            if manager.rebuilds > rebuilds and (await http.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert (await http.get("/readyz")).status_code == 200
    t = await _open(clients, hub_server[0], teacher)
    s = await _open(clients, hubs[0], student)
    ack = await s.call("message.send", _send(conv, "can you hear me now?"))
    assert (await t.next("message.new"))["id"] == ack["id"]
