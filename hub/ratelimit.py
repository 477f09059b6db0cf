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
import contextlib
import logging
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("dreamseed.ratelimit")

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
  return {0, allow_at - now, tostring(tat)}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now + 1000))
return {1, 0, tostring(new_tat)}
"""

# The same GCRA over every key of a batch, in order (a key twice sees its first hit): ARGV is
# interval, burst window, then each key's now. Answers allowed, wait_ms, TAT per key, flat
# (the TAT as text: Lua numbers become integers on the way out).
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
    out[3 * i - 2] = 0
    out[3 * i - 1] = allow_at - now
    out[3 * i] = tostring(tat)
  else
    local new_tat = tat + interval
    redis.call('SET', key, new_tat, 'PX', math.ceil(new_tat - now + 1000))
    out[3 * i - 2] = 1
    out[3 * i - 1] = 0
    out[3 * i] = tostring(new_tat)
  end
end
return out
"""
_BATCH_MAX = 256

# What a SharedLimiter spent in its process since it last told Redis, added to each bucket:
# ARGV is interval, then per key the time of its last hit, the hits, and the process's own
# TAT after them. The bucket moves by the hits (from whatever other hubs left there), and at
# least to the process's own TAT: a sum of hits alone would miss that the process's bucket
# was already ahead of "now" when they came. Answers each bucket's TAT as text.
_GCRA_ADD = """
local interval = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local now = tonumber(ARGV[3 * i - 1])
  local hits = tonumber(ARGV[3 * i])
  local own = tonumber(ARGV[3 * i + 1])
  local tat = math.max((tonumber(redis.call('GET', key)) or 0) + hits * interval, own)
  redis.call('SET', key, tat, 'PX', math.ceil(tat - now + 1000))
  out[i] = tostring(tat)
end
return out
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float
    # The bucket's theoretical arrival time after this check (ms), where Redis answered it.
    tat_ms: float | None = None


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
                allowed, wait_ms, tat = await self._script(keys=[key], args=[now_ms, *args])
                return [Decision(bool(allowed), float(wait_ms) / 1000, float(tat))]
            flat = await self._script_many(
                keys=[k for k, _ in hits],
                args=[self._interval_ms, self._burst_window_ms, *(n for _, n in hits)],
            )
        except (RedisConnectionError, RedisTimeoutError):
            return [self.hit_locally(key, now_ms) for key, now_ms in hits]
        return [
            Decision(bool(flat[3 * i]), float(flat[3 * i + 1]) / 1000, float(flat[3 * i + 2]))
            for i in range(len(hits))
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

    def knows(self, key: str) -> bool:
        return key in self._tats

    def tat_of(self, key: str, now_ms: float) -> float:
        return self._tats.get(key, now_ms)

    def learn(self, key: str, tat_ms: float) -> None:
        """Take what the shared bucket says (it counts other processes' hits too)."""
        self._tats[key] = max(self._tats.get(key, tat_ms), tat_ms)

    def forget_idle(self, before_ms: float) -> None:
        """Drop buckets that have been full again since `before_ms`."""
        self._tats = {k: t for k, t in self._tats.items() if t > before_ms}

    def hit(self, key: str, now_ms: float) -> Decision:
        if len(self._tats) >= _LOCAL_KEYS_MAX:
            self.forget_idle(now_ms)
        tat = max(self._tats.get(key, now_ms), now_ms)
        allow_at = tat - self._burst_window_ms
        if now_ms < allow_at:
            return Decision(False, (allow_at - now_ms) / 1000)
        self._tats[key] = tat + self._interval_ms
        return Decision(True, 0.0)


class SharedLimiter:
    """A limit shared by every hub, decided in this process: the message limiter.

    Asking Redis before every message was a tenth of a hub's CPU per message at 1,000 msg/s.
    Here the first check of a bucket asks Redis (through a RateLimiter, batched), and the
    bucket's state it answers is kept in this process; later checks of that bucket are decided
    here (LocalLimiter, the same GCRA) and what they spent is added to the shared bucket every
    `sync_s` in one script call for all buckets, which answers each bucket's state as every hub
    left it.

    What this gives up: a sender whose sockets sit on several hubs may, within one `sync_s`,
    get up to one burst on each of those hubs before every hub learns of the others' share;
    after that the shared bucket holds them all back, so the rate over a second is the limit.
    A sender on one hub (the common case) is limited exactly. With Redis unreachable the
    checks go on locally (as RateLimiter's do) and that interval's hits are not shared.
    """

    def __init__(
        self,
        redis: Redis,
        limit: int,
        period_s: float,
        *,
        sync_s: float = 0.1,
        forget_after_s: float = 10.0,
    ) -> None:
        self.limit = limit
        self._interval_ms = period_s * 1000 / limit
        self._sync_s = sync_s
        self._forget_after_ms = forget_after_s * 1000
        self._remote = RateLimiter(redis, limit, period_s)
        self._local = LocalLimiter(limit, period_s)
        self._add = redis.register_script(_GCRA_ADD)
        self._spent: dict[str, tuple[int, int]] = {}  # key -> (hits, now_ms of the last)
        self._sync_due: asyncio.TimerHandle | None = None
        self._syncing: asyncio.Task[None] | None = None
        self._last_forget_ms = 0.0
        self._closed = False
        self.syncs = 0  # script calls that shared spending (for tests and metrics)

    async def hit(self, key: str, now_ms: int) -> Decision:
        if not self._local.knows(key):
            decision = await self._remote.hit(key, now_ms)
            if decision.tat_ms is not None:
                self._local.learn(key, decision.tat_ms)
            return decision
        decision = self._local.hit(key, now_ms)
        if decision.allowed:
            hits, _ = self._spent.get(key, (0, now_ms))
            self._spent[key] = (hits + 1, now_ms)
            self._schedule_sync()
        return decision

    def _schedule_sync(self) -> None:
        if self._sync_due is None and self._syncing is None and not self._closed:
            loop = asyncio.get_running_loop()
            self._sync_due = loop.call_later(self._sync_s, self._start_sync)

    def _start_sync(self) -> None:
        self._sync_due = None
        self._syncing = asyncio.get_running_loop().create_task(self._sync())

    async def _sync(self) -> None:
        try:
            spent, self._spent = self._spent, {}
            keys = list(spent)
            for start in range(0, len(keys), _BATCH_MAX):
                chunk = keys[start : start + _BATCH_MAX]
                args: list[float] = [self._interval_ms]
                for key in chunk:
                    hits, now_ms = spent[key]
                    args += [now_ms, hits, self._local.tat_of(key, now_ms)]
                try:
                    tats = await self._add(keys=chunk, args=args)
                except RedisError as exc:
                    # Not shared this time: each hub limits its own share meanwhile.
                    logger.warning("could not share %d rate-limit buckets: %s", len(keys), exc)
                    return
                self.syncs += 1
                for key, tat in zip(chunk, tats, strict=True):
                    self._local.learn(key, float(tat))
            self._forget_idle(max((now for _, now in spent.values()), default=0))
        finally:
            self._syncing = None
            if self._spent:
                self._schedule_sync()

    def _forget_idle(self, now_ms: float) -> None:
        """Buckets idle here for a while go back to asking Redis first (another hub may have
        spent them meanwhile), and the process forgets them."""
        if now_ms - self._last_forget_ms >= self._forget_after_ms:
            self._last_forget_ms = now_ms
            self._local.forget_idle(now_ms - self._forget_after_ms)

    async def close(self) -> None:
        """Stop sharing (at shutdown). At most `sync_s` of this process's hits go unshared:
        its senders' next hub asks Redis first, which then knows all but those."""
        self._closed = True
        if self._sync_due is not None:
            self._sync_due.cancel()
            self._sync_due = None
        if self._syncing is not None:
            self._syncing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._syncing
