"""The real arq worker in burst mode: runs the product's jobs waiting in one queue, then stops."""

from __future__ import annotations

import warnings
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Worker

from workers.main import WorkerSettings


async def run_burst(redis_settings: RedisSettings, queue_name: str, ctx: dict[str, Any]) -> Worker:
    """Run every job of `queue_name` with the product's functions and `ctx`; return the worker
    (its counters: jobs_complete, jobs_failed, jobs_retried)."""
    worker = Worker(
        functions=WorkerSettings.functions,
        redis_settings=redis_settings,
        queue_name=queue_name,
        burst=True,
        poll_delay=0.01,
        ctx=dict(ctx),
        handle_signals=False,
    )
    try:
        await worker.main()
    finally:
        with warnings.catch_warnings():
            # arq 0.28 closes its pool with redis-py's deprecated close().
            warnings.simplefilter("ignore", DeprecationWarning)
            await worker.close()
    return worker
