"""Running an arq worker that outlives a Redis outage.

arq's poll loop does not catch a lost Redis connection: the worker process exits, and with
it every cron (the notification outbox sweep among them) until someone restarts it; under
`dreamseed up` a dead child stops the whole stack. Here the worker closes what it can without
Redis and starts again, with backoff, once Redis answers.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from arq.worker import Worker, get_kwargs
from redis.exceptions import RedisError

logger = logging.getLogger("dreamseed.worker")
MAX_BACKOFF_S = 5.0
# A run that lasted this long was healthy: the next outage starts the backoff afresh.
HEALTHY_RUN_S = 30.0


class _SteadyWorker(Worker):
    async def close(self) -> None:
        try:
            await super().close()
        except (RedisError, OSError):
            # The health-check key cannot be deleted without Redis; the rest must still be
            # closed (the database pool, the push client), or each outage leaks them.
            if self.on_shutdown is not None:
                with contextlib.suppress(Exception):
                    await self.on_shutdown(self.ctx)
            self._pool = None


def run_steadily(settings_cls: Any, **kwargs: Any) -> None:
    """Run the worker until it is stopped by a signal; start it again when Redis is lost."""
    delay = 0.5
    while True:
        started = time.monotonic()
        worker = _SteadyWorker(**{**get_kwargs(settings_cls), **kwargs})
        try:
            worker.run()
            return
        except (RedisError, OSError) as exc:
            if time.monotonic() - started > HEALTHY_RUN_S:
                delay = 0.5
            logger.warning("worker lost Redis (%s); starting again in %.1f s", exc, delay)
            time.sleep(delay)
            delay = min(MAX_BACKOFF_S, delay * 2)
