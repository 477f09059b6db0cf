"""The arq worker: `dreamseed worker` (Procfile `worker`) runs WorkerSettings.

Redis settings and the queue name are passed in by the CLI from the process settings.
"""

from __future__ import annotations

from typing import Any, ClassVar

from arq import cron

from hub.keys import RedisKeys
from hub.services import close_context, open_context
from hub.settings import load_settings
from hub.sockets.bus import RedisBus
from workers.jobs import expire_link_requests, purge_expired_sessions


async def startup(ctx: dict[str, Any]) -> None:
    settings = load_settings().require_runtime()
    bus = RedisBus(settings.redis_dsn, RedisKeys(settings.redis_namespace).socketio_channel)
    ctx["hub"] = await open_context(settings, bus)


async def shutdown(ctx: dict[str, Any]) -> None:
    if "hub" in ctx:
        await close_context(ctx["hub"])


class WorkerSettings:
    functions: ClassVar[list[Any]] = [expire_link_requests, purge_expired_sessions]
    cron_jobs: ClassVar[list[Any]] = [
        cron(expire_link_requests, minute={0, 15, 30, 45}, run_at_startup=True),
        cron(purge_expired_sessions, hour={3}, minute={17}),
    ]
    on_startup = startup
    on_shutdown = shutdown
    max_tries = 5
    job_timeout = 300
    # arq re-queues jobs cancelled by a shutdown and retries them (up to max_tries);
    # allow_abort_jobs additionally lets an operator abort a queued or running job.
    allow_abort_jobs = True
