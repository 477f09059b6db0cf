"""The message limiter decides in process and shares its spending through Redis
(hub/ratelimit.py SharedLimiter): one hub is limited exactly; hubs sharing a sender learn
each other's share within one sync; with Redis gone it limits locally."""

from __future__ import annotations

import asyncio
import logging
import secrets

import pytest
from redis.asyncio import Redis

from hub.ratelimit import SharedLimiter

INTERVAL_MS = 100  # 10 a second


async def _synced(limiter: SharedLimiter, at_least: int) -> None:
    """Wait (bounded) until the limiter has shared its spending `at_least` times."""
    for _ in range(500):
        if limiter.syncs >= at_least:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the limiter shared {limiter.syncs} times, expected {at_least}")


@pytest.fixture
def key() -> str:
    return f"test-shared-rl:{secrets.token_hex(4)}"


async def test_one_hub_allows_exactly_the_burst_then_refuses(redis: Redis, key: str) -> None:
    """The first check asks Redis, the next are decided here: 10 allowed, the 11th refused with
    the wait to the next token, and Redis's bucket ends where the process's does."""
    limiter = SharedLimiter(redis, 10, 1, sync_s=0.01)
    remote_calls = 0
    ask = limiter._remote._script

    async def counted(*args: object, **kwargs: object) -> object:
        nonlocal remote_calls
        remote_calls += 1
        return await ask(*args, **kwargs)  # type: ignore[arg-type]

    limiter._remote._script = counted  # type: ignore[assignment]
    now = 5_000_000
    decisions = [await limiter.hit(key, now) for _ in range(11)]
    assert [d.allowed for d in decisions] == [True] * 10 + [False]
    assert decisions[-1].retry_after_s == pytest.approx(INTERVAL_MS / 1000)
    assert remote_calls == 1
    await _synced(limiter, 1)
    assert float(await redis.get(key)) == pytest.approx(now + 10 * INTERVAL_MS)
    assert (await limiter.hit(key, now + INTERVAL_MS)).allowed  # one interval later
    await limiter.close()
    await redis.delete(key)


async def test_sharing_between_hits_does_not_count_them_twice(redis: Redis, key: str) -> None:
    """17 hits 40 ms apart, shared after every third: the process's bucket is already ahead
    of "now" when they come, and sharing must move Redis's to the same place, not further
    (the GCRA allows hit i while 40 i >= 100 i - 900: the first 16)."""
    limiter = SharedLimiter(redis, 10, 1, sync_s=0.001)
    start = 20_000_000
    allowed = []
    for i in range(17):
        allowed.append((await limiter.hit(key, start + 40 * i)).allowed)
        if i % 3 == 0 and i > 0:  # the first share comes after 3 local hits, 120 ms in
            await _synced(limiter, limiter.syncs + 1)
    assert allowed == [True] * 16 + [False]
    if limiter._sync_due is not None or limiter._syncing is not None:
        await _synced(limiter, limiter.syncs + 1)
    assert float(await redis.get(key)) == pytest.approx(start + 16 * INTERVAL_MS)
    await limiter.close()
    await redis.delete(key)


async def test_a_second_hub_gets_only_what_the_first_left(redis: Redis, key: str) -> None:
    """Hub A spends 6 of the 10 and shares it; hub B, asking Redis first, gets the other 4."""
    a, b = SharedLimiter(redis, 10, 1, sync_s=0.01), SharedLimiter(redis, 10, 1, sync_s=0.01)
    now = 7_000_000
    assert all([(await a.hit(key, now)).allowed for _ in range(6)])
    await _synced(a, 1)
    allowed_on_b = [(await b.hit(key, now)).allowed for _ in range(6)]
    assert allowed_on_b == [True] * 4 + [False] * 2
    await a.close()
    await b.close()
    await redis.delete(key)


async def test_hubs_that_both_spent_learn_the_others_share(redis: Redis, key: str) -> None:
    """Both hubs know the bucket and spend at once, before either has shared: each may give at
    most one burst (the documented bound), the shared bucket counts every hit, and both then
    refuse."""
    a, b = SharedLimiter(redis, 10, 1, sync_s=0.01), SharedLimiter(redis, 10, 1, sync_s=0.01)
    now = 9_000_000
    assert (await a.hit(key, now)).allowed  # each asks Redis for its first check
    assert (await b.hit(key, now)).allowed
    allowed = 2
    for _ in range(3):  # spend what each believes is left, then share: a few rounds
        for hub in (a, b):
            while (await hub.hit(key, now)).allowed:
                allowed += 1
        for hub in (a, b):
            if hub._sync_due is not None or hub._syncing is not None:
                await _synced(hub, hub.syncs + 1)
    assert 10 <= allowed <= 20
    assert float(await redis.get(key)) == pytest.approx(now + allowed * INTERVAL_MS)
    for hub in (a, b):
        refused = await hub.hit(key, now + 50)
        assert not refused.allowed and 0 < refused.retry_after_s <= 1
    await a.close()
    await b.close()
    await redis.delete(key)


async def test_with_redis_gone_it_limits_locally(
    redis: Redis, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A sync that cannot reach Redis is logged and dropped; the checks go on here."""
    limiter = SharedLimiter(redis, 10, 1, sync_s=0.01)
    now = 11_000_000
    assert (await limiter.hit(key, now)).allowed
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    limiter._add = dead.register_script("return {}")
    with caplog.at_level(logging.WARNING, logger="dreamseed.ratelimit"):
        decisions = [(await limiter.hit(key, now)).allowed for _ in range(10)]
        for _ in range(300):
            if "could not share" in caplog.text:
                break
            await asyncio.sleep(0.01)
    assert decisions == [True] * 9 + [False]
    assert "could not share" in caplog.text
    assert limiter.syncs == 0
    await limiter.close()
    await dead.aclose()
    await redis.delete(key)


async def test_close_leaves_no_timer_or_task(redis: Redis, key: str) -> None:
    limiter = SharedLimiter(redis, 10, 1, sync_s=30)
    assert (await limiter.hit(key, 1_000)).allowed
    assert (await limiter.hit(key, 1_000)).allowed  # local: a sync is now due in 30 s
    assert limiter._sync_due is not None
    await limiter.close()
    assert limiter._sync_due is None and limiter._syncing is None
    assert (await limiter.hit(key, 1_000)).allowed  # still decides, shares nothing
    assert limiter._sync_due is None
    await redis.delete(key)
