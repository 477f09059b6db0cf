"""Real PostgreSQL and Redis for every test: the servers named by DATABASE_URL/REDIS_URL,
or embedded ones when those are unset. Each run makes its own database and Redis namespace
and removes them afterwards."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from api.app import create_app
from hub.clock import utc_now
from hub.context import HubContext
from hub.embedded import EmbeddedServices
from hub.notify.email import EmailSender
from hub.notify.push import PushSender
from hub.settings import Settings
from hub.tokens import TokenIssuer
from schema.migrate import migrate
from tests.fcm_standin import FcmStandIn
from tests.hubs import serve_in_process
from tests.sockets import Client
from tests.support import Factory, FrozenClock, User

if TYPE_CHECKING:
    from playwright.async_api import Browser

_KEEP_TABLES = ("schema_migrations", "zones")


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(admin PostgreSQL URL, Redis URL) of real servers."""
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    embedded = None
    if not (database_url and redis_url):
        embedded = EmbeddedServices(Path(tmp_path_factory.mktemp("embedded")))
        pg_url, rd_url = embedded.start(database="postgres")
        database_url, redis_url = database_url or pg_url, redis_url or rd_url
    try:
        yield database_url, redis_url
    finally:
        if embedded is not None:
            embedded.stop()


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
async def database_url(servers: tuple[str, str]) -> AsyncIterator[str]:
    admin_url = servers[0]
    name = f"ds_test_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
    url = _with_database(admin_url, name)
    try:
        await migrate(url, "dreamseed_app")
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
def settings(
    database_url: str, servers: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=database_url,
        redis_url=servers[1],
        jwt_secret=secrets.token_urlsafe(40),
        redis_namespace=f"dstest-{secrets.token_hex(4)}",
        db_pool_min=1,
        db_pool_max=8,
        log_level="warning",
        typing_ttl_s=0.5,
        presence_ttl_s=2,
        bus_heartbeat_s=0.2,
        bus_deaf_after_s=1.5,
        # Every test client comes from 127.0.0.1: per-address caps off unless a test sets them.
        connects_per_ip_per_s=1_000_000,
        max_in_flight_per_client=1_000_000,
    )


@pytest.fixture(scope="session")
async def hub_server(settings: Settings) -> AsyncIterator[tuple[str, Any]]:
    """A real uvicorn serving the whole app on 127.0.0.1 (random port)."""
    app = create_app(settings)
    async with serve_in_process(app) as url:
        yield url, app


@pytest.fixture(scope="session")
def hub_ctx(hub_server: tuple[str, Any]) -> HubContext:
    ctx: HubContext = hub_server[1].other_asgi_app.state.ctx
    return ctx


@pytest.fixture(scope="session")
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    assert settings.redis_url
    client = Redis.from_url(settings.redis_url)
    yield client
    await _drop_namespace(client, settings.redis_namespace)
    await client.aclose()


async def _drop_namespace(client: Redis, namespace: str) -> None:
    keys = [k async for k in client.scan_iter(match=f"{namespace}:*", count=1000)]
    keys += [k async for k in client.scan_iter(match=f"arq:*:{namespace}:*", count=1000)]
    if keys:
        await client.delete(*keys)


@pytest.fixture
async def clean(database_url: str, redis: Redis, settings: Settings) -> None:
    """Empty tables (zones stay: migrations seed them) and an empty Redis namespace."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        doomed = ", ".join(f'"{t}"' for t in tables if t not in _KEEP_TABLES)
        # A previous test's hub-side work (a disconnect's presence update) may still hold a
        # lock: retry instead of failing the next test on a deadlock.
        for attempt in range(5):
            try:
                await conn.execute(f"TRUNCATE {doomed} RESTART IDENTITY CASCADE")
                break
            except asyncpg.DeadlockDetectedError:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.1)
    finally:
        await conn.close()
    await _drop_namespace(redis, settings.redis_namespace)


@pytest.fixture
def clock(hub_ctx: HubContext) -> Iterator[FrozenClock]:
    """Freeze the running hub's clock for one test, then give it back."""
    frozen = FrozenClock()
    hub_ctx.clock = frozen
    yield frozen
    hub_ctx.clock = utc_now


@pytest.fixture
async def api(hub_server: tuple[str, Any], clean: None) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hub_server[0] + "/api/v1", timeout=10) as client:
        yield client


@pytest.fixture
async def connect(
    hub_server: tuple[str, Any], clean: None
) -> AsyncIterator[Callable[[User], Awaitable[Client]]]:
    """Open real Socket.IO clients to the in-process hub; all are closed after the test."""
    clients: list[Client] = []

    async def open_client(user: User) -> Client:
        client = Client()
        clients.append(client)
        return await client.connect(hub_server[0], user.token)

    yield open_client
    for client in clients:
        await client.close()


@pytest.fixture
def factory(database_url: str, settings: Settings, clean: None) -> Factory:
    return Factory(database_url, TokenIssuer(settings.jwt_secret, settings.access_token_ttl_s))


# Worker jobs that push: each module that uses these defines its own `fcm` stand-in fixture.
@pytest.fixture
async def push(fcm: FcmStandIn, tmp_path: Path) -> AsyncIterator[PushSender]:
    """The real firebase-admin sender, aimed at the module's FCM stand-in."""
    fcm.reset()
    sender = PushSender(fcm.write_service_account(tmp_path / "sa.json"), endpoint=fcm.base_url)
    yield sender
    await sender.aclose()


@pytest.fixture
def worker_ctx(hub_ctx: HubContext, push: PushSender) -> dict[str, Any]:
    """What the worker's jobs get in `ctx`: the in-process hub's resources, push, no e-mail."""
    return {"hub": hub_ctx, "push": push, "email": EmailSender(None, 25), "job_try": 1}


# The browser tests' Chromium: one for the whole run (starting one takes a second or two).
@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    from tests.browser import chromium

    async with chromium() as b:
        yield b


@pytest.fixture
async def school(hub_server: tuple[str, Any], hub_ctx: HubContext, clean: None) -> str:
    """The demo school, freshly seeded; returns the hub's base URL."""
    from hub.seed import seed_demo

    assert await seed_demo(hub_ctx.db)
    return hub_server[0]
