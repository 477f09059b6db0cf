"""Exam jobs: submit attempts whose deadline passed (a job per deadline, and a sweep as the
backstop for a job lost with a crashed worker or a deadline moved by an extension)."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from hub.context import HubContext
from hub.exams import attempts
from workers.base import durable

logger = logging.getLogger("dreamseed.jobs")


@durable
async def submit_overdue_attempt(ctx: dict[str, Any], attempt_id: str) -> int:
    """The deadline of one attempt: submit it if it is still open and really overdue (a
    proctor may have extended it since the job was queued; that extension queued its own)."""
    hub: HubContext = ctx["hub"]
    return await attempts.submit_overdue(hub, UUID(attempt_id))


@durable
async def sweep_overdue_attempts(ctx: dict[str, Any]) -> int:
    """Every overdue attempt of every school, submitted as of its deadline."""
    hub: HubContext = ctx["hub"]
    count = await attempts.submit_overdue(hub)
    if count:
        logger.info("submitted %d overdue attempt(s)", count)
    return count
