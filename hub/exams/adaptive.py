"""CAT attempts on top of the pure engine: the exam's pool as a CatBank, exposure counts shared
by every hub process through Redis, and the next item chosen while the request waits.

The pool's tables (P and information on the θ grid) are built once per process and exam and
kept for POOL_TTL_S, so a newly accepted calibration reaches new answers within that time. Each
answer keeps the parameters it was scored with, and an attempt's estimate is rebuilt from
those: a recalibration changes what comes next, never an attempt's past.
Exposure is a soft control: counts are read from Redis for each pick and bumped after the
commit, so two processes picking at the same instant may both give the same item (the cap
overshoots by one).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

import numpy as np
from redis.asyncio import Redis

from hub.context import HubContext
from hub.db import Connection
from hub.exams.cat import CatBank, CatEngine, ExposureControl
from hub.exams.irt import FloatArray, ItemBank, posterior

POOL_TTL_S = 30.0
# An exam's exposure counts outlive its last use by this long (then the hash expires).
EXPOSURE_TTL_S = 90 * 24 * 3600
_ATTEMPTS_FIELD = "attempts"


@dataclass(frozen=True)
class Pool:
    """An exam's CAT pool: item ids in pool order, and the engine's tables."""

    item_ids: tuple[UUID, ...]
    index: dict[UUID, int]
    cat: CatBank
    loaded_at: float
    # The items' Redis hash fields (their ids as text), in pool order.
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    """The engine's state after an answer (or at the start)."""

    theta: float
    se: float
    next_item: UUID | None
    # The parameters the answer was scored with (None at the start).
    scored_with: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Scored:
    """A stored answer of the attempt, with the parameters it was scored with."""

    item_id: UUID
    correct: bool
    a: float
    b: float
    c: float


class AdaptiveExams:
    """Per-process cache of CAT pools; one per hub (or worker) process."""

    def __init__(self, redis: Redis, key_of: Any) -> None:
        self._redis = redis
        self._key_of = key_of
        self._pools: dict[UUID, Pool] = {}

    async def pool(self, conn: Connection, exam_id: UUID) -> Pool:
        cached = self._pools.get(exam_id)
        if cached is not None and time.monotonic() - cached.loaded_at < POOL_TTL_S:
            return cached
        rows = await conn.fetch(
            """SELECT i.id, i.a, i.b, i.c, i.content_area FROM exam_items x
               JOIN items i ON i.id = x.item_id WHERE x.exam_id = $1 ORDER BY x.position""",
            exam_id,
        )
        areas = [r["content_area"] or "" for r in rows]
        bank = ItemBank.from_params(
            [r["a"] for r in rows], [r["b"] for r in rows], [r["c"] for r in rows], areas
        )
        ids = tuple(r["id"] for r in rows)
        pool = Pool(
            ids,
            {item: i for i, item in enumerate(ids)},
            CatBank(bank),
            time.monotonic(),
            tuple(str(i) for i in ids),
        )
        self._pools[exam_id] = pool
        return pool

    async def start(self, conn: Connection, exam_id: UUID, settings: dict[str, Any]) -> Step:
        """A new attempt: pick the first item (θ = 0), counting the attempt as begun."""
        pool = await self.pool(conn, exam_id)
        engine = await self._engine(pool, exam_id, settings, starting=True)
        return self._pick(pool, engine)

    async def answer(
        self,
        conn: Connection,
        exam_id: UUID,
        settings: dict[str, Any],
        previous: Sequence[Scored],
        item_id: UUID,
        correct: bool,
    ) -> Step:
        """Rebuild the estimate from the stored answers, add this one, pick the next item."""
        pool = await self.pool(conn, exam_id)
        engine = await self._engine(pool, exam_id, settings)
        engine.resume(
            [(pool.index[p.item_id], p.correct) for p in previous], _posterior(pool, previous)
        )
        index = pool.index[item_id]
        engine.update(index, correct)
        step = self._pick(pool, engine)
        bank = pool.cat.bank
        scored = (float(bank.a[index]), float(bank.b[index]), float(bank.c[index]))
        return Step(step.theta, step.se, step.next_item, scored)

    async def _engine(
        self, pool: Pool, exam_id: UUID, settings: dict[str, Any], *, starting: bool = False
    ) -> CatEngine:
        r_max = settings.get("r_max", 0.2)
        exposure = None
        if r_max is not None:
            exposure = ExposureControl(len(pool.cat), r_max=float(r_max))
        engine = CatEngine(
            pool.cat,
            np.random.default_rng(),
            top_k=int(settings.get("top_k", 3)),
            se_stop=float(settings.get("se_stop", 0.3)),
            max_items=int(settings.get("max_items", 50)),
            min_items=int(settings.get("min_items", 1)),
            content_balance=settings.get("content_balance") or None,
            exposure=exposure,
        )
        if exposure is not None:
            await self._load_exposure(exam_id, pool, exposure)
            # The attempt being started is not counted in Redis until it commits.
            exposure.attempts += int(starting)
        return engine

    async def _load_exposure(self, exam_id: UUID, pool: Pool, exposure: ExposureControl) -> None:
        # HMGET in pool order: the counts arrive as one array, with no per-field lookups.
        raw = await cast(
            "Awaitable[list[bytes | None]]",
            self._redis.hmget(self._key_of(exam_id), [_ATTEMPTS_FIELD, *pool.fields]),
        )
        exposure.attempts = int(raw[0] or 0)
        exposure.counts[:] = [int(v or 0) for v in raw[1:]]

    def _pick(self, pool: Pool, engine: CatEngine) -> Step:
        index = engine.next_item()
        item = None if index is None else pool.item_ids[index]
        return Step(engine.theta, engine.se, item)

    async def count_exposure(self, exam_id: UUID, item: UUID | None, *, started: bool) -> None:
        """After the commit: the attempt (if it `started`) and the item shown count for exposure.

        Counted only for what was committed (a start that lost a race is not counted); the hash
        lives EXPOSURE_TTL_S after its last use, so finished exams do not stay in Redis.
        """
        key = self._key_of(exam_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            if started:
                pipe.hincrby(key, _ATTEMPTS_FIELD, 1)
            if item is not None:
                pipe.hincrby(key, str(item), 1)
            pipe.expire(key, EXPOSURE_TTL_S)
            await pipe.execute()


def _posterior(pool: Pool, previous: Sequence[Scored]) -> FloatArray:
    """The posterior on the pool's grid after the stored answers, each with its own parameters."""
    if not previous:
        return pool.cat.prior
    scored_with = ItemBank.from_params(
        [p.a for p in previous], [p.b for p in previous], [p.c for p in previous]
    )
    return posterior(
        scored_with,
        np.arange(len(previous)),
        [p.correct for p in previous],
        pool.cat.grid,
        pool.cat.prior,
    )


def wire(ctx: HubContext) -> None:
    """Give the process its CAT pool cache: called where the process is assembled."""
    ctx.components.add(AdaptiveExams(ctx.redis, ctx.keys.exam_exposure))


def of(ctx: HubContext) -> AdaptiveExams:
    """The process's CAT pool cache (see `wire`)."""
    return ctx.components.get(AdaptiveExams)
