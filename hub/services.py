"""Opens and closes the resources of one process (pool, Redis client) from the settings."""

from __future__ import annotations

from redis.asyncio import Redis

from hub.bus import EventBus
from hub.context import HubContext
from hub.db import Database
from hub.keys import RedisKeys
from hub.ratelimit import RateLimiter
from hub.settings import Settings
from hub.tokens import TokenIssuer


async def open_context(settings: Settings, bus: EventBus) -> HubContext:
    settings.require_runtime()
    db = await Database.connect(
        settings.postgres_dsn,
        settings.app_db_role,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
    )
    redis = Redis.from_url(settings.redis_dsn)
    return HubContext(
        settings=settings,
        db=db,
        redis=redis,
        bus=bus,
        tokens=TokenIssuer(settings.jwt_secret, settings.access_token_ttl_s),
        keys=RedisKeys(settings.redis_namespace),
        rate_limiter=RateLimiter(redis, settings.rate_limit_per_minute, 60),
    )


async def close_context(ctx: HubContext) -> None:
    await ctx.db.close()
    await ctx.redis.aclose()
