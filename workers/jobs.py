"""Scheduled jobs of accounts. Each is a plain coroutine `job(ctx)`; resources come in ctx;
`durable` counts, retries and dead-letters them like every other job."""

from __future__ import annotations

import logging
from typing import Any

from hub.accounts import links, sessions
from hub.context import HubContext
from workers.base import durable

logger = logging.getLogger("dreamseed.jobs")


@durable
async def expire_link_requests(ctx: dict[str, Any]) -> int:
    """Parent link requests left unanswered for 7 days become 'expired'; both sides are told."""
    hub: HubContext = ctx["hub"]
    count = await links.expire_pending(hub)
    logger.info("expired %d parent link request(s)", count)
    return count


@durable
async def purge_expired_sessions(ctx: dict[str, Any]) -> int:
    """Delete refresh tokens and sessions that can no longer be used."""
    hub: HubContext = ctx["hub"]
    count = await sessions.purge_expired(hub)
    logger.info("purged %d expired session row(s)", count)
    return count
