"""Hubs for tests: real uvicorn subprocesses sharing PostgreSQL and Redis (multi-node tests), and
a real uvicorn serving an app in this event loop (`serve_in_process`)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from starlette.types import ASGIApp

from hub.settings import Settings

READY_TIMEOUT_S = 90.0


@dataclass
class HubProcess:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.postgres_dsn,
        "REDIS_URL": settings.redis_dsn,
        "JWT_SECRET": settings.jwt_secret,
        "REDIS_NAMESPACE": settings.redis_namespace,
        "PRESENCE_TTL_S": str(settings.presence_ttl_s),
        "BUS_HEARTBEAT_S": str(settings.bus_heartbeat_s),
        "BUS_DEAF_AFTER_S": str(settings.bus_deaf_after_s),
        "LOG_LEVEL": "warning",
        # Every test client connects from 127.0.0.1: per-address caps off unless a test sets them.
        "CONNECTS_PER_IP_PER_S": str(settings.connects_per_ip_per_s),
        "MAX_IN_FLIGHT_PER_CLIENT": str(settings.max_in_flight_per_client),
    }


def _spawn(env: dict[str, str], port: int, log: Path) -> HubProcess:
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                "--no-proxy-headers",
                "--ws-per-message-deflate",
                "false",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return HubProcess(f"http://127.0.0.1:{port}", proc, log)


def start_hubs(settings: Settings, count: int, log_dir: Path) -> list[HubProcess]:
    """Start `count` hub processes on the test database and Redis namespace; wait until ready."""
    env = _env(settings)
    hubs = [_spawn(env, _free_port(), log_dir / f"hub-{i}.log") for i in range(count)]
    try:
        for hub in hubs:
            _wait_ready(hub)
    except BaseException:
        # A hub that never became ready must not outlive the test run (nor its siblings).
        for hub in hubs:
            hub.stop()
        raise
    return hubs


def restart_hub(settings: Settings, hub: HubProcess) -> HubProcess:
    """Start a stopped hub again on the same address (its clients reconnect to it)."""
    assert hub.proc.poll() is not None, "stop or kill the hub first"
    again = _spawn(_env(settings), int(hub.url.rsplit(":", 1)[1]), hub.log)
    try:
        _wait_ready(again)
    except BaseException:
        again.stop()
        raise
    return again


def _wait_ready(hub: HubProcess) -> None:
    # Generous: on a loaded 2-core machine a cold interpreter needs tens of seconds.
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if hub.proc.poll() is not None:
            raise AssertionError(f"hub exited:\n{hub.log.read_text()}")
        try:
            if httpx.get(f"{hub.url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"hub not ready in {READY_TIMEOUT_S:.0f} s:\n{hub.log.read_text()}")


@asynccontextmanager
async def serve_in_process(app: ASGIApp) -> AsyncIterator[str]:
    """`app` served by a real uvicorn on 127.0.0.1 (a free port) in this event loop; its URL.

    Started as the hub starts it: forwarded headers are left to api/proxies.py, no deflate."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="on",
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
