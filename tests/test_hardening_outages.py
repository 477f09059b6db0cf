"""Issue 13, found from outside: outages must look like outages. A hub whose PostgreSQL and
Redis sit behind TCP proxies the test cuts and restores (the servers keep running)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import httpx
import pytest

from api.app import create_app
from hub.context import HubContext
from hub.settings import Settings
from hub.sockets.manager import HubManager
from tests.hubs import serve_in_process
from tests.sockets import Client
from tests.support import Factory, FrozenClock, User
from tests.tcp_proxy import TcpProxy


@dataclass
class CutOffHub:
    url: str
    ctx: HubContext
    manager: HubManager
    postgres: TcpProxy
    redis: TcpProxy


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)
    netloc = (host[0] + "@" if len(host) == 2 else "") + f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture(scope="module")
async def cut_off(settings: Settings) -> AsyncIterator[CutOffHub]:
    """A real hub (uvicorn on 127.0.0.1) reaching PostgreSQL and Redis through proxies."""
    assert settings.database_url and settings.redis_url
    db, rd = urlsplit(settings.database_url), urlsplit(settings.redis_url)
    if not db.port:
        pytest.skip("PostgreSQL is reached by a Unix socket here: set DATABASE_URL to TCP")
    postgres = await TcpProxy(db.hostname or "127.0.0.1", db.port).start()
    redis = await TcpProxy(rd.hostname or "127.0.0.1", rd.port or 6379).start()
    proxied = settings.model_copy(
        update={
            "database_url": _via(settings.database_url, postgres.port),
            "redis_url": _via(settings.redis_url, redis.port),
        }
    )
    app = create_app(proxied)
    rest: Any = app.other_asgi_app  # type: ignore[attr-defined]
    try:
        async with serve_in_process(app) as url:
            try:
                yield CutOffHub(url, rest.state.ctx, rest.state.bus_manager, postgres, redis)
            finally:  # connections open again before the hub shuts down through them
                postgres.restore()
                redis.restore()
    finally:
        await postgres.stop()
        await redis.stop()


@pytest.fixture
async def hub(cut_off: CutOffHub, clean: None) -> AsyncIterator[CutOffHub]:
    yield cut_off
    cut_off.postgres.restore()
    cut_off.redis.restore()


async def _room(factory: Factory) -> tuple[User, User, UUID]:
    org = await factory.org()
    teacher, student = await factory.user("teacher", org), await factory.user("student", org)
    return teacher, student, await factory.conversation("group", org, [teacher], [student])


def _send(conversation: UUID, client_msg_id: str) -> dict[str, Any]:
    return {"conversation_id": str(conversation), "client_msg_id": client_msg_id, "content": "hi"}


async def test_sends_during_a_postgres_outage_are_retryable(
    hub: CutOffHub, factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    """With PostgreSQL unreachable a send is `unavailable` with retry_after, logged once and
    without a traceback; REST is a 503 with Retry-After; the retry after it stores once."""
    teacher, _, conversation = await _room(factory)
    client = await Client().connect(hub.url, teacher.token)
    try:
        hub.postgres.cut()
        with caplog.at_level(logging.WARNING):
            acks = [await client.call("message.send", _send(conversation, "m1")) for _ in range(5)]
            async with httpx.AsyncClient(base_url=hub.url + "/api/v1") as api:
                rest = await api.get("/conversations", headers=teacher.headers)
        assert {a["error"]["code"] for a in acks} == {"unavailable"}
        assert all(a["error"]["retry_after"] >= 1 for a in acks)
        assert rest.status_code == 503 and rest.headers["retry-after"]
        # (asyncpg's own pool logs one line of its own while it retries its floor.)
        assert not [r for r in caplog.records if r.exc_info and r.name.startswith("dreamseed")]
        assert len([r for r in caplog.records if r.name == "dreamseed.outages"]) == 1
        hub.postgres.restore()
        stored = await client.call("message.send", _send(conversation, "m1"))
        assert stored["seq"] == 1, stored
        again = await client.call("message.send", _send(conversation, "m1"))
        assert again == stored
    finally:
        await client.sio.disconnect()


async def test_sending_works_with_redis_down_and_clients_are_told_to_sync(
    hub: CutOffHub, factory: Factory
) -> None:
    """With Redis unreachable a send is still stored and acknowledged (the rate limiter runs
    in-process), /readyz is red at once, and when Redis is back the rebuilt listener tells
    connected clients to sync, after which live delivery works again."""
    teacher, student, conversation = await _room(factory)
    sender = await Client().connect(hub.url, teacher.token)
    reader = await Client().connect(hub.url, student.token)
    try:
        hub.redis.cut()
        async with httpx.AsyncClient(base_url=hub.url) as api:
            assert (await api.get("/readyz")).status_code == 503
        ack = await sender.call("message.send", _send(conversation, "while-down"))
        assert ack["seq"] == 1, ack
        hub.redis.restore()
        told = await reader.next("sync.required", timeout=10)
        assert told == {"reason": "bus_restored"}
        missed = await reader.call("sync", {"conversations": {str(conversation): 0}})
        entry = missed["conversations"][str(conversation)]
        assert [m["client_msg_id"] for m in entry["messages"]] == ["while-down"]
        live = await sender.call("message.send", _send(conversation, "after"))
        assert live["seq"] == 2, live
        heard = [(await reader.next("message.new"))["client_msg_id"]]
        while heard[-1] != "after":  # "while-down" may also arrive, if its publish got through
            heard.append((await reader.next("message.new"))["client_msg_id"])
        assert heard in (["after"], ["while-down", "after"])
        async with httpx.AsyncClient(base_url=hub.url) as api:
            assert (await api.get("/readyz")).status_code == 200
    finally:
        await sender.sio.disconnect()
        await reader.sio.disconnect()


async def test_a_retry_of_a_stored_message_gets_its_ack_past_the_rate_limit(
    connect: Any, factory: Factory, clock: FrozenClock, settings: Settings
) -> None:
    """Idempotency comes before the rate limit: once the budget is spent, a new message is
    rate_limited but the retry of a stored one gets its original ack."""
    teacher, _, conversation = await _room(factory)
    client = await connect(teacher)
    first = await client.call("message.send", _send(conversation, "first"))
    for n in range(settings.message_rate_per_s - 1):
        assert "seq" in await client.call("message.send", _send(conversation, f"more-{n}"))
    refused = await client.call("message.send", _send(conversation, "one-too-many"))
    assert refused["error"]["code"] == "rate_limited"
    assert await client.call("message.send", _send(conversation, "first")) == first
