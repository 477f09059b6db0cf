"""Scheduled jobs of accounts. Each is a plain coroutine `job(ctx)`; resources come in ctx."""

from __future__ import annotations

import logging
from typing import Any

from hub import metrics
from hub.accounts import links, sessions
from hub.context import HubContext

logger = logging.getLogger("dreamseed.jobs")


async def expire_link_requests(ctx: dict[str, Any]) -> int:
    """Parent link requests left unanswered for 7 days become 'expired'; both sides are told."""
    hub: HubContext = ctx["hub"]
    count = await links.expire_pending(hub)
    metrics.JOBS.labels("expire_link_requests", "ok").inc()
    logger.info("expired %d parent link request(s)", count)
    return count


async def purge_expired_sessions(ctx: dict[str, Any]) -> int:
    """Delete refresh tokens and sessions that can no longer be used."""
    hub: HubContext = ctx["hub"]
    count = await sessions.purge_expired(hub)
    metrics.JOBS.labels("purge_expired_sessions", "ok").inc()
    logger.info("purged %d expired session row(s)", count)
    return count
