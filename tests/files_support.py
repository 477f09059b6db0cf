"""Helpers for file tests: uploads over REST, the worker's checks in burst mode."""

from __future__ import annotations

from typing import Any

import httpx
from arq.connections import RedisSettings

from hub.context import HubContext
from tests.burst import run_burst
from tests.support import User


async def upload(
    api: httpx.AsyncClient,
    user: User,
    data: bytes,
    name: str = "file.bin",
    *,
    path: str = "/files",
    **params: Any,
) -> httpx.Response:
    """A multipart upload, as a browser's form or fetch() sends it."""
    return await api.post(
        path, files={"file": (name, data)}, params=params, headers=user.headers, timeout=30
    )


async def uploaded(api: httpx.AsyncClient, user: User, data: bytes, name: str) -> dict[str, Any]:
    response = await upload(api, user, data, name)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def run_worker(hub: HubContext, ctx: dict[str, Any]) -> int:
    """The real arq worker in burst mode over the hub's queue; jobs completed."""
    redis = hub.settings.redis_dsn
    worker = await run_burst(RedisSettings.from_dsn(redis), hub.keys.job_queue, ctx)
    return int(worker.jobs_complete)


def stored_files(hub: HubContext) -> list[str]:
    """Every object in the hub's storage (local backend): orphan checks."""
    root = hub.settings.data_dir / "files"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def spooled(hub: HubContext) -> list[str]:
    """Upload spool files left behind (there should be none after a request)."""
    folder = hub.settings.data_dir / "uploads"
    return sorted(p.name for p in folder.glob("*.part")) if folder.exists() else []
