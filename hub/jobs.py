"""Handing work to the background workers (arq on Redis), from any process."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Awaitable
from typing import Any, Protocol, cast

from arq.connections import ArqRedis
from redis.asyncio import Redis

from hub.keys import RedisKeys


class JobQueue(Protocol):
    async def enqueue(
        self, name: str, *args: Any, job_id: str | None = None, defer_s: float | None = None
    ) -> bool:
        """Queue a job; False when a job with that id is already queued or done (deduplicated)."""


class ArqJobs:
    def __init__(self, pool: ArqRedis, queue_name: str, namespace: str) -> None:
        self.pool = pool
        self.queue_name = queue_name
        # arq keeps job keys under its own prefix: ours carry the namespace too.
        self.namespace = namespace
        # Job ids this process already queued: skip the Redis round trip for repeats
        # (arq deduplicates by id anyway; this only saves the trip in a burst).
        self._recent: OrderedDict[str, float] = OrderedDict()

    async def enqueue(
        self, name: str, *args: Any, job_id: str | None = None, defer_s: float | None = None
    ) -> bool:
        if job_id is not None:
            job_id = f"{self.namespace}:{job_id}"
            if job_id in self._recent:
                return False
        job = await self.pool.enqueue_job(
            name, *args, _job_id=job_id, _queue_name=self.queue_name, _defer_by=defer_s
        )
        if job_id is not None:
            self._recent[job_id] = time.monotonic()
            while len(self._recent) > 10_000:
                self._recent.popitem(last=False)
        return job is not None


class NullJobs:
    async def enqueue(
        self, name: str, *args: Any, job_id: str | None = None, defer_s: float | None = None
    ) -> bool:
        return False


async def dead_letters(redis: Redis, keys: RedisKeys, limit: int = 100) -> list[dict[str, Any]]:
    """Jobs that kept failing, newest first, each with its error (workers write them)."""
    raw = await cast("Awaitable[list[bytes]]", redis.lrange(keys.dead_letters, 0, limit - 1))
    return [json.loads(r) for r in raw]


async def queue_depth(redis: Redis, queue_name: str) -> int:
    return int(await cast("Awaitable[int]", redis.zcard(queue_name)))


async def queue_lag_s(redis: Redis, queue_name: str, now_ms: int) -> float:
    """How long the oldest due job has been waiting (0 when none is due)."""
    oldest = await cast(
        "Awaitable[list[tuple[bytes, float]]]",
        redis.zrangebyscore(queue_name, "-inf", now_ms, start=0, num=1, withscores=True),
    )
    return max(0.0, (now_ms - oldest[0][1]) / 1000) if oldest else 0.0
