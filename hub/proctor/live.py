"""Exam clients' live state in Redis: sockets, last heartbeat, question on screen.

Ephemeral by design, never in PostgreSQL: a heartbeat costs one Redis round trip. Each socket
is an entry of its attempt's sorted set, scored by when it expires; the hub holding the socket
pushes that forward every quarter of the TTL (the settings' presence TTL), so a hub that
crashes cannot leave a student "connected" for longer than that. Whether the exam client
itself is alive shows in the time since its last heartbeat.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import cast
from uuid import UUID

from hub.context import HubContext

# The roster hash outlives a quiet spell of the exam, not the day.
ROSTER_TTL_MS = 12 * 3600 * 1000


@dataclass(frozen=True)
class LiveEntry:
    sockets: int = 0
    last_heartbeat_ms: int | None = None
    question: int | None = None


def _ttl_ms(ctx: HubContext) -> int:
    return int(ctx.settings.presence_ttl_s * 1000)


def _connects_field(attempt_id: UUID) -> str:
    return f"{attempt_id}:connects"


async def socket_opened(
    ctx: HubContext, exam_id: UUID, attempt_id: UUID, sid: str, now_ms: int
) -> tuple[int, int]:
    """Record an exam client's socket: (times this attempt connected, its live sockets)."""
    sockets, roster = ctx.keys.proctor_sockets(attempt_id), ctx.keys.proctor_roster(exam_id)
    ttl = _ttl_ms(ctx)
    async with ctx.redis.pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore(sockets, "-inf", now_ms)
        pipe.zadd(sockets, {sid: now_ms + ttl})
        pipe.pexpire(sockets, ttl * 2)
        pipe.zcard(sockets)
        pipe.hincrby(roster, _connects_field(attempt_id), 1)
        pipe.pexpire(roster, ROSTER_TTL_MS)
        _, _, _, live, connects, _ = await pipe.execute()
    return int(connects), int(live)


async def socket_closed(ctx: HubContext, attempt_id: UUID, sid: str, now_ms: int) -> int:
    """Forget a socket; the attempt's live sockets left."""
    sockets = ctx.keys.proctor_sockets(attempt_id)
    async with ctx.redis.pipeline(transaction=True) as pipe:
        pipe.zrem(sockets, sid)
        pipe.zremrangebyscore(sockets, "-inf", now_ms)
        pipe.zcard(sockets)
        *_, live = await pipe.execute()
    return int(live)


async def beat(
    ctx: HubContext,
    exam_id: UUID,
    attempt_id: UUID,
    now_ms: int,
    question: int | None,
    client_time: datetime,
) -> None:
    roster = ctx.keys.proctor_roster(exam_id)
    state = {"hb": now_ms, "q": question, "ct": client_time.isoformat()}
    async with ctx.redis.pipeline(transaction=False) as pipe:
        pipe.hset(roster, str(attempt_id), json.dumps(state))
        pipe.pexpire(roster, ROSTER_TTL_MS)
        await pipe.execute()


async def keep_alive(ctx: HubContext, sockets: dict[str, UUID], now_ms: int) -> None:
    """Extend this hub's exam-client sockets (sid -> attempt id); called every few seconds."""
    ttl = _ttl_ms(ctx)
    async with ctx.redis.pipeline(transaction=False) as pipe:
        for sid, attempt_id in sockets.items():
            key = ctx.keys.proctor_sockets(attempt_id)
            pipe.zadd(key, {sid: now_ms + ttl})
            pipe.pexpire(key, ttl * 2)
        await pipe.execute()


async def snapshot(
    ctx: HubContext, exam_id: UUID, attempt_ids: list[UUID], now_ms: int
) -> dict[UUID, LiveEntry]:
    """Live state of the given attempts, in one round trip."""
    async with ctx.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(ctx.keys.proctor_roster(exam_id))
        for attempt_id in attempt_ids:
            pipe.zcount(ctx.keys.proctor_sockets(attempt_id), f"({now_ms}", "+inf")
        roster, *counts = await pipe.execute()
    states = {_text(k): _text(v) for k, v in cast("dict[bytes, bytes]", roster).items()}
    entries = {}
    for attempt_id, live in zip(attempt_ids, counts, strict=True):
        raw = states.get(str(attempt_id))
        state = json.loads(raw) if raw else {}
        entries[attempt_id] = LiveEntry(int(live), state.get("hb"), state.get("q"))
    return entries


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
