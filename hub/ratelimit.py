"""A Redis-backed GCRA limiter: smooth, one key per bucket, one round trip per check.

With Redis unreachable it falls back to the same algorithm in this process's memory rather
than refusing everything (with Redis down nobody could send) or allowing everything (a flood
would then reach PostgreSQL unchecked). Each hub then enforces the limit on its own share, so
a client spread over N hubs may get up to N times the limit until Redis is back: bounded, and
the cheaper failure of the two.
"""

from __future__ import annotations

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
        self._local = LocalLimiter(limit, period_s)

    async def hit(self, key: str, now_ms: int) -> Decision:
        try:
            allowed, wait_ms = await self._script(
                keys=[key], args=[now_ms, self._interval_ms, self._burst_window_ms]
            )
        except (RedisConnectionError, RedisTimeoutError):
            return self.hit_locally(key, now_ms)
        return Decision(bool(allowed), float(wait_ms) / 1000)

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
