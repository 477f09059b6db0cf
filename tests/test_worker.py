"""The real arq worker, in burst mode against the test Redis, running the accounts jobs."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.jobs import JobStatus
from arq.worker import Worker
from redis.asyncio import Redis

from hub.context import HubContext
from hub.settings import Settings
from tests.burst import run_burst
from tests.support import Factory, FrozenClock


@dataclass
class Queue:
    name: str
    pool: ArqRedis
    hub: HubContext
    settings: RedisSettings

    async def enqueue(self, function: str, job_id: str | None = None) -> Any:
        return await self.pool.enqueue_job(
            function, _queue_name=self.name, _job_id=f"{self.name}:{job_id or secrets.token_hex(4)}"
        )

    async def run(self) -> Worker:
        """Run a burst worker until the queue is empty, then close it."""
        return await run_burst(self.settings, self.name, {"hub": self.hub})


@pytest.fixture
async def queue(
    settings: Settings, hub_ctx: HubContext, redis: Redis, clean: None
) -> AsyncIterator[Queue]:
    assert settings.redis_url
    name = f"{settings.redis_namespace}:arq-test-{secrets.token_hex(4)}"
    redis_settings = RedisSettings.from_dsn(settings.redis_url)
    pool = await create_pool(redis_settings, default_queue_name=name)
    try:
        yield Queue(name, pool, hub_ctx, redis_settings)
    finally:
        await pool.aclose()
        # arq keeps job and result keys under its own prefix; the job ids carry the queue name.
        leftovers = [k async for k in redis.scan_iter(match=f"arq:*{name}*", count=1000)]
        if leftovers:
            await redis.delete(*leftovers)


async def _link(factory: Factory, requested_ago: timedelta, now: Any) -> UUID:
    org = await factory.org()
    parent, student = await factory.user(), await factory.user("student", org)
    requested = now - requested_ago
    link_id: UUID = await factory.fetchval(
        """INSERT INTO parent_links
               (org_id, zone_id, parent_id, student_id, requested_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
        org.id,
        org.zone_id,
        parent.id,
        student.id,
        requested,
        requested + timedelta(days=7),
    )
    return link_id


async def _session(factory: Factory, expires_at: Any, revoked_at: Any = None) -> UUID:
    user = await factory.user()
    session_id: UUID = await factory.fetchval(
        "INSERT INTO sessions (user_id, expires_at, revoked_at) VALUES ($1, $2, $3) RETURNING id",
        user.id,
        expires_at,
        revoked_at,
    )
    await factory.fetch(
        """INSERT INTO refresh_tokens (token_hash, session_id, user_id, issued_at, expires_at)
           VALUES ($1, $2, $3, $4, $5)""",
        secrets.token_bytes(32),
        session_id,
        user.id,
        expires_at - timedelta(days=30),
        expires_at,
    )
    return session_id


async def test_worker_expires_overdue_links(
    queue: Queue, factory: Factory, clock: FrozenClock
) -> None:
    """expire_link_requests run by the worker expires a link past 7 days and leaves a fresh one."""
    overdue = await _link(factory, timedelta(days=7, seconds=1), clock.now)
    fresh = await _link(factory, timedelta(days=6), clock.now)
    job = await queue.enqueue("expire_link_requests")
    assert job is not None
    worker = await queue.run()
    assert (worker.jobs_complete, worker.jobs_failed, worker.jobs_retried) == (1, 0, 0)
    assert await job.result(timeout=5) == 1
    rows = await factory.fetch("SELECT id, status::text FROM parent_links")
    statuses = {r["id"]: r["status"] for r in rows}
    assert statuses == {overdue: "expired", fresh: "pending"}
    assert (
        await factory.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'parent_link.expired'"
        )
        == 1
    )


async def test_worker_purges_expired_sessions(
    queue: Queue, factory: Factory, clock: FrozenClock
) -> None:
    """purge_expired_sessions deletes sessions and tokens dead for over a day, keeps the rest."""
    now = clock.now
    dead = await _session(factory, now - timedelta(days=2))
    revoked = await _session(factory, now + timedelta(days=20), revoked_at=now - timedelta(days=2))
    recent = await _session(factory, now - timedelta(hours=1))  # within the one-day grace
    live = await _session(factory, now + timedelta(days=20))
    # The factory's users each have a live session of their own as well.
    before = {r["id"] for r in await factory.fetch("SELECT id FROM sessions")}
    job = await queue.enqueue("purge_expired_sessions")
    assert job is not None
    worker = await queue.run()
    assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)
    # One refresh token of `dead` by expiry, then the two sessions (`revoked`'s token by cascade).
    assert await job.result(timeout=5) == 3
    after = {r["id"] for r in await factory.fetch("SELECT id FROM sessions")}
    assert after == before - {dead, revoked}
    assert {recent, live} <= after
    tokens = {r["session_id"] for r in await factory.fetch("SELECT session_id FROM refresh_tokens")}
    assert tokens == {recent, live}


async def test_worker_runs_both_jobs_in_one_burst(
    queue: Queue, factory: Factory, clock: FrozenClock
) -> None:
    """A burst drains the queue: two different jobs both complete and nothing is left queued."""
    await _link(factory, timedelta(days=8), clock.now)
    await queue.enqueue("expire_link_requests")
    await queue.enqueue("purge_expired_sessions")
    assert await queue.pool.zcard(queue.name) == 2
    worker = await queue.run()
    assert (worker.jobs_complete, worker.jobs_failed) == (2, 0)
    assert await queue.pool.zcard(queue.name) == 0
    assert await factory.fetchval("SELECT status::text FROM parent_links") == "expired"


async def test_same_job_id_runs_once(queue: Queue, factory: Factory, clock: FrozenClock) -> None:
    """Enqueueing one _job_id twice queues it once, the worker runs it once, and it stays done."""
    await _link(factory, timedelta(days=8), clock.now)
    first = await queue.enqueue("expire_link_requests", job_id="tick")
    second = await queue.enqueue("expire_link_requests", job_id="tick")
    assert first is not None
    assert second is None
    assert await queue.pool.zcard(queue.name) == 1
    worker = await queue.run()
    assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)
    assert await first.status() is JobStatus.complete
    # While its result is kept, the same id is still refused.
    assert await queue.enqueue("expire_link_requests", job_id="tick") is None
    assert (
        await factory.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'parent_link.expired'"
        )
        == 1
    )


async def test_worker_with_nothing_to_do(
    queue: Queue, factory: Factory, clock: FrozenClock
) -> None:
    """With no overdue links the job completes and reports zero, changing nothing."""
    fresh = await _link(factory, timedelta(days=1), clock.now)
    before = await factory.snapshot()
    job = await queue.enqueue("expire_link_requests")
    worker = await queue.run()
    assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)
    assert await job.result(timeout=5) == 0
    assert await factory.snapshot() == before
    assert (
        await factory.fetchval("SELECT status::text FROM parent_links WHERE id = $1", fresh)
        == "pending"
    )
