"""Opens and closes the resources of one process (pool, Redis client) from the settings."""

from __future__ import annotations

import uuid

from arq import create_pool
from arq.connections import RedisSettings
from redis.asyncio import Redis

from hub.bus import EventBus
from hub.context import HubContext
from hub.db import Database
from hub.files.storage import open_storage
from hub.jobs import ArqJobs
from hub.keys import RedisKeys
from hub.presence.presence import Presence
from hub.ratelimit import RateLimiter, SharedLimiter
from hub.settings import Settings
from hub.tokens import TokenIssuer


async def open_context(settings: Settings, bus: EventBus, host_id: str | None = None) -> HubContext:
    settings.require_runtime()
    db = await Database.connect(
        settings.postgres_dsn,
        settings.app_db_role,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
    )
    redis = Redis.from_url(settings.redis_dsn)
    keys = RedisKeys(settings.redis_namespace)
    pool = await create_pool(RedisSettings.from_dsn(settings.redis_dsn))
    storage = await open_storage(
        settings.file_storage,
        settings.data_dir,
        bucket=settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key,
    )
    return HubContext(
        settings=settings,
        db=db,
        redis=redis,
        bus=bus,
        tokens=TokenIssuer(settings.jwt_secret, settings.access_token_ttl_s),
        keys=keys,
        rate_limiter=RateLimiter(redis, settings.rate_limit_per_minute, 60),
        message_limiter=SharedLimiter(redis, settings.message_rate_per_s, 1),
        jobs=ArqJobs(pool, keys.job_queue, settings.redis_namespace),
        presence=Presence(redis, keys, host_id or uuid.uuid4().hex, settings.presence_ttl_s),
        storage=storage,
    )


async def close_context(ctx: HubContext) -> None:
    await ctx.message_limiter.close()
    await ctx.db.close()
    await ctx.redis.aclose()
    await ctx.storage.close()
    if isinstance(ctx.jobs, ArqJobs):
        await ctx.jobs.pool.aclose()
