"""Who is online, kept in Redis with expiring entries so a crashed hub cannot pin anyone online.

Each live socket is a member `{host}:{sid}` of the user's sorted set, scored by the time it
expires. Hub processes refresh their own sockets' entries and their host heartbeat key every
few seconds; a host whose heartbeat lapsed is swept by any other host, and its users whose
last entry expired go offline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import cast
from uuid import UUID

from redis.asyncio import Redis

from hub.keys import RedisKeys

# KEYS: the host's user set, the set of hosts, then a user's presence key per arrival.
# ARGV: host id, key lifetime ms, then per arrival: member, now ms, expires ms, user id.
# In order, so a user's second socket in a batch sees the first: 1 = this one came online.
_ARRIVE = """
local out = {}
for i = 3, #KEYS do
  local a = 3 + (i - 3) * 4
  local key = KEYS[i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[a + 1])
  out[#out + 1] = redis.call('ZCARD', key) == 0 and 1 or 0
  redis.call('ZADD', key, ARGV[a + 2], ARGV[a])
  redis.call('PEXPIRE', key, ARGV[2])
  redis.call('SADD', KEYS[1], ARGV[a + 3])
end
redis.call('SADD', KEYS[2], ARGV[1])
return out
"""

# KEYS: the user's presence key, its last-seen key. ARGV: member, now ms. Returns sockets left.
_LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local left = redis.call('ZCARD', KEYS[1])
if left == 0 then redis.call('SET', KEYS[2], ARGV[2]) end
return left
"""

# KEYS: the host's user set, the set of hosts, the host's alive key, then a presence key per
# socket. ARGV: host id, now ms, ttl ms, expires ms, then per socket: member, user id.
_REFRESH = """
local ttl = tonumber(ARGV[3])
for i = 4, #KEYS do
  local a = 5 + (i - 4) * 2
  redis.call('ZADD', KEYS[i], ARGV[4], ARGV[a])
  redis.call('PEXPIRE', KEYS[i], ttl * 2)
  redis.call('SADD', KEYS[1], ARGV[a + 1])
end
-- The heartbeat thread (hub/presence/heartbeat.py) keeps the alive key on its own; it is
-- written here too for processes that run no thread (tests, tools). The host is registered
-- on every refresh: a host swept while it was only frozen (SIGSTOP) must be found and swept
-- when it really dies.
redis.call('SET', KEYS[3], ARGV[2], 'PX', ttl)
redis.call('SADD', KEYS[2], ARGV[1])
return 0
"""


@dataclass(frozen=True)
class PresenceState:
    online: bool
    last_seen_ms: int | None


@dataclass(frozen=True)
class _Arrival:
    user_id: UUID
    sid: str
    now_ms: int
    came_online: asyncio.Future[bool]


class Presence:
    def __init__(self, redis: Redis, keys: RedisKeys, host_id: str, ttl_s: float) -> None:
        self._redis = redis
        self._keys = keys
        self.host_id = host_id
        self.ttl_ms = int(ttl_s * 1000)
        self.batch_s = 0.002
        self._arrivals: list[_Arrival] = []
        self._flush: asyncio.Task[None] | None = None
        # One command per batch, not five per socket: redis-py packs each command in Python,
        # which was most of presence's cost when thousands connect at once.
        self._arrive = redis.register_script(_ARRIVE)
        self._leave = redis.register_script(_LEAVE)
        self._refresh = redis.register_script(_REFRESH)

    async def connected(self, user_id: UUID, sid: str, now_ms: int) -> bool:
        """Record a socket; True when this made the user come online.

        Sockets connecting within `batch_s` of each other share one MULTI (a hub restart
        brings thousands back at once): in order, so a user's second socket in the same
        batch sees the first and is not announced twice.
        """
        arrival = _Arrival(user_id, sid, now_ms, asyncio.get_running_loop().create_future())
        self._arrivals.append(arrival)
        if self._flush is None or self._flush.done():
            self._flush = asyncio.get_running_loop().create_task(self._record_arrivals())
        return await arrival.came_online

    async def _record_arrivals(self) -> None:
        # Until none is waiting: sockets arriving while a batch is on its way go in the next
        # batch of this same task (no other task is started while this one runs).
        while self._arrivals:
            await asyncio.sleep(self.batch_s)
            arrivals, self._arrivals = self._arrivals, []
            await self._record(arrivals)

    async def _record(self, arrivals: list[_Arrival]) -> None:
        keys = [self._keys.host_users(self.host_id), self._keys.hosts]
        args: list[str | int] = [self.host_id, self.ttl_ms * 2]
        for a in arrivals:
            keys.append(self._keys.presence(str(a.user_id)))
            args += [f"{self.host_id}:{a.sid}", a.now_ms, a.now_ms + self.ttl_ms, str(a.user_id)]
        try:
            firsts = await self._arrive(keys=keys, args=args)
        except Exception as exc:
            for a in arrivals:
                if not a.came_online.done():
                    a.came_online.set_exception(exc)
            return
        for a, first in zip(arrivals, firsts, strict=True):
            if not a.came_online.done():
                a.came_online.set_result(bool(first))

    async def disconnected(self, user_id: UUID, sid: str, now_ms: int) -> bool:
        """Forget a socket; True when the user has no live socket left (now offline)."""
        left = await self._leave(
            keys=[self._keys.presence(str(user_id)), self._keys.last_seen(str(user_id))],
            args=[f"{self.host_id}:{sid}", now_ms],
        )
        return bool(left == 0)

    async def refresh(self, sockets: dict[str, UUID], now_ms: int) -> None:
        """Extend this host's entries and heartbeat; called every few seconds."""
        keys = [
            self._keys.host_users(self.host_id),
            self._keys.hosts,
            self._keys.host_alive(self.host_id),
        ]
        args: list[str | int] = [self.host_id, now_ms, self.ttl_ms, now_ms + self.ttl_ms]
        for sid, user_id in sockets.items():
            keys.append(self._keys.presence(str(user_id)))
            args += [f"{self.host_id}:{sid}", str(user_id)]
        await self._refresh(keys=keys, args=args)

    async def states(self, user_ids: list[UUID], now_ms: int) -> dict[UUID, PresenceState]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.zcount(self._keys.presence(str(user_id)), now_ms, "+inf")
                pipe.get(self._keys.last_seen(str(user_id)))
            replies = await pipe.execute()
        return {
            user_id: PresenceState(
                bool(replies[2 * i]), int(replies[2 * i + 1]) if replies[2 * i + 1] else None
            )
            for i, user_id in enumerate(user_ids)
        }

    async def sweep_dead_hosts(self, now_ms: int) -> list[UUID]:
        """Take over hosts whose heartbeat lapsed; return their users who are now offline."""
        gone: list[UUID] = []
        for raw in await _members(self._redis, self._keys.hosts):
            host = raw.decode() if isinstance(raw, bytes) else str(raw)
            if host == self.host_id or await self._redis.exists(self._keys.host_alive(host)):
                continue
            if not await self._redis.set(self._keys.sweep_lock(host), self.host_id, nx=True, ex=30):
                continue  # another host is sweeping it
            for user_raw in await _members(self._redis, self._keys.host_users(host)):
                user_id = UUID(user_raw.decode() if isinstance(user_raw, bytes) else user_raw)
                key = self._keys.presence(str(user_id))
                # The dead host's sockets are gone whatever their scores say.
                dead = [
                    m
                    for m in await self._redis.zrange(key, 0, -1)
                    if m.startswith(f"{host}:".encode())
                ]
                if dead:
                    await self._redis.zrem(key, *dead)
                await self._redis.zremrangebyscore(key, "-inf", now_ms)
                if await cast("Awaitable[int]", self._redis.zcard(key)) == 0:
                    await self._redis.set(self._keys.last_seen(str(user_id)), now_ms)
                    gone.append(user_id)
            await self._redis.delete(self._keys.host_users(host))
            await cast("Awaitable[int]", self._redis.srem(self._keys.hosts, host))
        return gone


async def _members(redis: Redis, key: str) -> set[bytes]:
    return await cast("Awaitable[set[bytes]]", redis.smembers(key))
