"""A Redis-backed GCRA limiter: smooth, one key per bucket, one round trip per batch of checks.

Checks that arrive while a round trip is in flight wait for the next one, which carries all
of them in one script call (the script loops over its keys): under load a hub makes one
Redis call per batch instead of one per message, and Redis runs one script instead of many.
Alone, a check still goes at once. (Several keys in one call: on a Redis Cluster the keys
would have to share a hash slot; this runs on one Redis.)

With Redis unreachable it falls back to the same algorithm in this process's memory rather
than refusing everything (with Redis down nobody could send) or allowing everything (a flood
would then reach PostgreSQL unchecked). Each hub then enforces the limit on its own share, so
a client spread over N hubs may get up to N times the limit until Redis is back: bounded, and
the cheaper failure of the two.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

_LOCAL_KEYS_MAX = 100_000

# GCRA: the bucket stores its "theoretical arrival time" (TAT) in ms. A request is allowed
# when TAT - now <= burst window; it then advances TAT by one emission interval.
_GCRA = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst_window = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat - burst_window
if now < allow_at then
  return {0, allow_at - now}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now + 1000))
return {1, 0}
"""

# The same GCRA over every key of a batch, in order (a key twice sees its first hit): ARGV is
# interval, burst window, then each key's now. Answers allowed, wait_ms per key, flat.
_GCRA_MANY = """
local interval = tonumber(ARGV[1])
local burst_window = tonumber(ARGV[2])
local out = {}
for i, key in ipairs(KEYS) do
  local now = tonumber(ARGV[2 + i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local allow_at = tat - burst_window
  if now < allow_at then
    out[2 * i - 1] = 0
    out[2 * i] = allow_at - now
  else
    local new_tat = tat + interval
    redis.call('SET', key, new_tat, 'PX', math.ceil(new_tat - now + 1000))
    out[2 * i - 1] = 1
    out[2 * i] = 0
  end
end
return out
"""
_BATCH_MAX = 256


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float


class RateLimiter:
    def __init__(self, redis: Redis, limit: int, period_s: float) -> None:
        self._redis = redis
        self.limit = limit
        self._interval_ms = period_s * 1000 / limit
        self._burst_window_ms = period_s * 1000 - self._interval_ms
        self._script = redis.register_script(_GCRA)
        self._script_many = redis.register_script(_GCRA_MANY)
        self._pending: list[tuple[str, int, asyncio.Future[Decision]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._local = LocalLimiter(limit, period_s)

    async def hit(self, key: str, now_ms: int) -> Decision:
        """One check, carried with whatever other checks are waiting (see the module doc)."""
        future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._pending.append((key, now_ms, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._pending[:_BATCH_MAX]
                del self._pending[:_BATCH_MAX]
                try:
                    decisions = await self._check([(k, n) for k, n, _ in batch])
                except BaseException as exc:
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    continue
                for (_, _, future), decision in zip(batch, decisions, strict=True):
                    if not future.done():
                        future.set_result(decision)
        finally:
            self._flusher = None

    async def _check(self, hits: list[tuple[str, int]]) -> list[Decision]:
        try:
            if len(hits) == 1:
                (key, now_ms), args = hits[0], [self._interval_ms, self._burst_window_ms]
                allowed, wait_ms = await self._script(keys=[key], args=[now_ms, *args])
                return [Decision(bool(allowed), float(wait_ms) / 1000)]
            flat = await self._script_many(
                keys=[k for k, _ in hits],
                args=[self._interval_ms, self._burst_window_ms, *(n for _, n in hits)],
            )
        except (RedisConnectionError, RedisTimeoutError):
            return [self.hit_locally(key, now_ms) for key, now_ms in hits]
        return [
            Decision(bool(flat[2 * i]), float(flat[2 * i + 1]) / 1000) for i in range(len(hits))
        ]

    def hit_locally(self, key: str, now_ms: int) -> Decision:
        """The GCRA of the Lua script, in this process (while Redis is unreachable)."""
        return self._local.hit(key, now_ms)


class LocalLimiter:
    """The same GCRA in this process's memory only: for limits that a single process enforces
    on its own (a socket's events, handshakes reaching this process), with no round trip."""

    def __init__(self, limit: int, period_s: float) -> None:
        self._interval_ms = period_s * 1000 / limit
        self._burst_window_ms = period_s * 1000 - self._interval_ms
        self._tats: dict[str, float] = {}

    def hit(self, key: str, now_ms: float) -> Decision:
        if len(self._tats) >= _LOCAL_KEYS_MAX:  # forget buckets that are full again
            self._tats = {k: t for k, t in self._tats.items() if t > now_ms}
        tat = max(self._tats.get(key, now_ms), now_ms)
        allow_at = tat - self._burst_window_ms
        if now_ms < allow_at:
            return Decision(False, (allow_at - now_ms) / 1000)
        self._tats[key] = tat + self._interval_ms
        return Decision(True, 0.0)
