"""What every job gets: counted outcomes, retries with exponential backoff, and a visible
dead-letter list holding the error of each job that kept failing."""

from __future__ import annotations

import functools
import json
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, cast

from arq import Retry
from arq.typing import WorkerCoroutine

from hub import metrics
from hub.context import HubContext
from hub.notify.dispatch import RetryLater

logger = logging.getLogger("dreamseed.jobs")
# The one limit: WorkerSettings.max_tries is this, and `durable` dead-letters on this try
# (arq does not put its max_tries into ctx, so the wrapper cannot read it from there).
MAX_TRIES = 5
Job = Callable[..., Awaitable[Any]]


def backoff_s(tries: int) -> float:
    """2, 4, 8, 16 ... seconds, capped at five minutes."""
    return float(min(300, 2**tries))


def durable(job: Job) -> WorkerCoroutine:
    @functools.wraps(job)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        name, tries = job.__name__, int(ctx.get("job_try", 1))
        try:
            result = await job(ctx, *args, **kwargs)
        except RetryLater as exc:
            return await _again(ctx, name, tries, args, exc, exc.after_s)
        except Exception as exc:
            return await _again(ctx, name, tries, args, exc, backoff_s(tries))
        metrics.JOBS.labels(name, "ok").inc()
        return result

    return cast(WorkerCoroutine, run)


async def _again(
    ctx: dict[str, Any],
    name: str,
    tries: int,
    args: tuple[Any, ...],
    exc: Exception,
    defer_s: float,
) -> None:
    if tries >= MAX_TRIES:
        metrics.JOBS.labels(name, "dead").inc()
        logger.error("job %s failed %d times; dead-lettered: %s", name, tries, exc)
        await dead_letter(ctx, name, args, exc, tries)
        return None
    metrics.JOBS.labels(name, "retry").inc()
    logger.warning("job %s failed (try %d), retrying in %.0f s: %s", name, tries, defer_s, exc)
    raise Retry(defer=defer_s) from exc


async def dead_letter(
    ctx: dict[str, Any], name: str, args: tuple[Any, ...], exc: Exception, tries: int
) -> None:
    hub: HubContext = ctx["hub"]
    entry = {
        "job": name,
        "job_id": ctx.get("job_id"),
        "args": [str(a) for a in args],
        "tries": tries,
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(exc))[-4000:],
        "at": time.time(),
    }
    async with hub.redis.pipeline(transaction=True) as pipe:
        pipe.lpush(hub.keys.dead_letters, json.dumps(entry))
        pipe.ltrim(hub.keys.dead_letters, 0, 9_999)
        await pipe.execute()
