"""A Redis-backed GCRA limiter: smooth, one key per bucket, one round trip per check."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

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

    async def hit(self, key: str, now_ms: int) -> Decision:
        allowed, wait_ms = await self._script(
            keys=[key], args=[now_ms, self._interval_ms, self._burst_window_ms]
        )
        return Decision(bool(allowed), float(wait_ms) / 1000)
