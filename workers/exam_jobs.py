"""Exam jobs: submit attempts whose deadline passed (a job per deadline, and a sweep as the
backstop for a job lost with a crashed worker or a deadline moved by an extension)."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from hub.context import HubContext
from hub.exams import deadlines, recalibrate
from workers.base import durable

logger = logging.getLogger("dreamseed.jobs")


@durable
async def submit_overdue_attempt(ctx: dict[str, Any], attempt_id: str) -> int:
    """The deadline of one attempt: submit it if it is still open and really overdue (a
    proctor may have extended it since the job was queued; that extension queued its own)."""
    hub: HubContext = ctx["hub"]
    return await deadlines.submit_overdue(hub, UUID(attempt_id))


@durable
async def sweep_overdue_attempts(ctx: dict[str, Any]) -> int:
    """Every overdue attempt of every school, submitted as of its deadline."""
    hub: HubContext = ctx["hub"]
    count = await deadlines.submit_overdue(hub)
    if count:
        logger.info("submitted %d overdue attempt(s)", count)
    return count


@durable
async def recalibrate_items(ctx: dict[str, Any], org_id: str) -> dict[str, int]:
    """Re-estimate one organization's item parameters; drifted items wait for a teacher."""
    hub: HubContext = ctx["hub"]
    outcome = await recalibrate.recalibrate_org(hub, UUID(org_id))
    return {
        "items": outcome.items,
        "adopted": outcome.adopted,
        "flagged": outcome.flagged,
        "skipped": outcome.skipped,
    }


@durable
async def recalibrate_recent(ctx: dict[str, Any]) -> int:
    """Nightly: queue a recalibration for every organization with new submitted attempts."""
    hub: HubContext = ctx["hub"]
    orgs = await recalibrate.orgs_with_new_answers(hub)
    for org_id in orgs:
        await hub.jobs.enqueue("recalibrate_items", str(org_id), job_id=f"recalibrate:{org_id}")
    return len(orgs)
