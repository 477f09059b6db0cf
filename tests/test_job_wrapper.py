"""Every job, the accounts ones included, goes through `durable` with one max-tries limit:
a job failing on its last try is dead-lettered, whatever ctx holds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hub.accounts import links
from hub.context import HubContext
from tests.test_worker import Queue, queue  # noqa: F401
from workers import base
from workers.jobs import expire_link_requests
from workers.main import WorkerSettings


async def _broken(ctx: HubContext) -> int:
    raise RuntimeError("database went away")


async def _letters(hub: HubContext) -> list[dict[str, Any]]:
    raw = await hub.redis.lrange(hub.keys.dead_letters, 0, -1)  # type: ignore[misc]
    return [json.loads(r) for r in raw]


async def test_failing_accounts_job_is_dead_lettered_by_the_real_worker(
    queue: Queue,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """expire_link_requests failing on its last try lands in the dead letters, not lost."""
    monkeypatch.setattr(links, "expire_pending", _broken)
    monkeypatch.setattr(base, "MAX_TRIES", 1)
    await queue.enqueue("expire_link_requests")
    worker = await queue.run()
    assert worker.jobs_failed == 0
    (letter,) = await _letters(queue.hub)
    assert letter["job"] == "expire_link_requests" and "database went away" in letter["error"]


async def test_the_limit_is_one_constant_not_read_from_ctx(
    hub_ctx: HubContext, clean: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's max_tries is MAX_TRIES, and the last try dead-letters even if ctx says more."""
    assert WorkerSettings.max_tries == base.MAX_TRIES
    monkeypatch.setattr(links, "expire_pending", _broken)
    ctx = {"hub": hub_ctx, "job_try": base.MAX_TRIES, "max_tries": base.MAX_TRIES + 3}
    assert await expire_link_requests(ctx) is None
    assert [letter["tries"] for letter in await _letters(hub_ctx)] == [base.MAX_TRIES]
