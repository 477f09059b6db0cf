"""Message partition jobs: months made ahead, old months moved to the archive, old
idempotency keys pruned (hub/chat/partitions.py). Each is idempotent."""

from __future__ import annotations

import logging
from typing import Any

from hub.chat import partitions
from hub.context import HubContext
from workers.base import durable

logger = logging.getLogger("dreamseed.jobs")


@durable
async def prepare_message_months(ctx: dict[str, Any]) -> int:
    """The current month and those ahead get their partitions; stale idempotency keys go."""
    hub: HubContext = ctx["hub"]
    made = await partitions.create_ahead(hub)
    pruned = await partitions.prune_keys(hub)
    logger.info("made %d message partition(s), pruned %d idempotency key(s)", made, pruned)
    return made


@durable
async def archive_message_months(ctx: dict[str, Any]) -> int:
    """Whole months past the archive cutoff move to the archive tablespace."""
    hub: HubContext = ctx["hub"]
    moved = await partitions.archive_due(hub)
    for result in moved:
        logger.info(
            "archived %s (%d rows) to %s in %.2f s",
            result.partition,
            result.row_count,
            result.tablespace,
            result.seconds,
        )
    return len(moved)
