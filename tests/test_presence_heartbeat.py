"""A hub too busy to run its presence loop is not swept as dead by a sibling (issue 13 §2);
one whose process stopped is (its heartbeat thread stopped with it)."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid

from redis.asyncio import Redis

from hub.context import HubContext
from hub.presence.heartbeat import Heartbeat
from hub.presence.presence import Presence
from hub.settings import Settings

LEASE_S = 0.5


def _now_ms() -> int:
    return int(time.time() * 1000)


async def test_a_starved_event_loop_keeps_its_host_alive_and_a_stopped_one_is_swept(
    hub_ctx: HubContext, settings: Settings, redis: Redis
) -> None:
    """The event loop is blocked for three leases (a saturated hub's loop runs nothing else):
    the heartbeat thread still writes the host's key, so the sibling's sweep leaves its user
    online; once the heartbeat stops, the next sweep after the lease takes the host over."""
    keys = hub_ctx.keys
    host = f"starved-{secrets.token_hex(4)}"
    starved = Presence(redis, keys, host, LEASE_S)
    user = uuid.uuid4()
    assert await starved.connected(user, "sid-1", _now_ms())
    heartbeat = Heartbeat(settings.redis_dsn, keys.host_alive(host), keys.hosts, host, LEASE_S)
    heartbeat.start()
    try:
        # The fault: a loop that runs nothing else for 1.5 s.
        time.sleep(3 * LEASE_S)  # noqa: ASYNC251
        assert heartbeat.beats >= 3
        assert user not in await hub_ctx.presence.sweep_dead_hosts(_now_ms())
        assert await redis.sismember(keys.hosts, host)  # type: ignore[misc]
        assert await redis.sismember(keys.host_users(host), str(user))  # type: ignore[misc]
    finally:
        heartbeat.stop()
    async with asyncio.timeout(10):
        while await redis.exists(keys.host_alive(host)):  # noqa: ASYNC110 - a key's TTL
            await asyncio.sleep(0.05)
    assert user in await hub_ctx.presence.sweep_dead_hosts(_now_ms())
    assert not await redis.sismember(keys.hosts, host)  # type: ignore[misc]
