"""The message rate limiter carries concurrent checks in one Redis script call (hub/ratelimit.py)
and decides each as the one-key script would."""

from __future__ import annotations

import asyncio
import secrets

from redis.asyncio import Redis

from hub.ratelimit import RateLimiter


async def test_concurrent_checks_of_one_bucket_allow_exactly_the_limit(redis: Redis) -> None:
    """30 checks at once on a bucket of 10 a second: 10 allowed, 20 refused with a wait, and
    fewer script calls than checks; the bucket then refuses alone too."""
    limiter = RateLimiter(redis, 10, 1)
    key = f"test-rl:{secrets.token_hex(4)}"
    calls = 0
    many = limiter._script_many

    async def counted(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        return await many(*args, **kwargs)  # type: ignore[arg-type]

    limiter._script_many = counted  # type: ignore[assignment]
    now = 1_000_000
    decisions = await asyncio.gather(*(limiter.hit(key, now) for _ in range(30)))
    assert [d.allowed for d in decisions] == [True] * 10 + [False] * 20
    assert all(0 < d.retry_after_s <= 1 for d in decisions[10:])
    assert 1 <= calls < 30
    assert not (await limiter.hit(key, now)).allowed
    assert (await limiter.hit(key, now + 100)).allowed  # one interval later
    await redis.delete(key)


async def test_checks_of_different_buckets_in_one_call_stay_apart(redis: Redis) -> None:
    """Two buckets in the same batch: each gets its own 10."""
    limiter = RateLimiter(redis, 10, 1)
    keys = [f"test-rl:{secrets.token_hex(4)}" for _ in range(2)]
    decisions = await asyncio.gather(*(limiter.hit(keys[n % 2], 5_000) for n in range(24)))
    for parity in (0, 1):
        allowed = [d.allowed for d in decisions[parity::2]]
        assert allowed == [True] * 10 + [False] * 2
    await redis.delete(*keys)
