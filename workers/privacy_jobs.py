"""Privacy jobs: an erasure asked for by an administrator, retention sweeps, exports."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from hub.context import HubContext
from hub.privacy import erase, export, requests, retention
from workers.base import durable

logger = logging.getLogger("dreamseed.jobs")


@durable
async def erase_user(ctx: dict[str, Any], erasure_id: str) -> dict[str, int]:
    """Apply an erasure (resumes where a killed run stopped; a done one is a no-op)."""
    hub: HubContext = ctx["hub"]
    return await erase.run(hub, UUID(erasure_id))


async def _retention(ctx: dict[str, Any], *names: str) -> int:
    hub: HubContext = ctx["hub"]
    await retention.check_clock(hub)
    return sum([await retention.run(hub, name) for name in names])


@durable
async def retention_daily(ctx: dict[str, Any]) -> int:
    """Expired export archives, and erasures left unfinished (sessions, link requests and
    uploads have their own jobs)."""
    hub: HubContext = ctx["hub"]
    for erasure_id in await requests.unfinished(hub):
        await erase.run(hub, erasure_id)
    return await _retention(ctx, "exports")


@durable
async def retention_weekly(ctx: dict[str, Any]) -> int:
    """Notifications past 90 days; proctoring event detail past 30 days."""
    return await _retention(ctx, "notifications", "proctor_detail")


@durable
async def retention_monthly(ctx: dict[str, Any]) -> int:
    """Deleted messages' text; audit rows to the archive and out after the legal period;
    tutor records past their period."""
    return await _retention(ctx, "deleted_text", "audit_archive", "audit_expiry", "tutor_records")


@durable
async def build_export(ctx: dict[str, Any], export_id: str) -> int:
    """Build a data export and tell the person who asked (a ready one is not built again)."""
    hub: HubContext = ctx["hub"]
    return await export.build(hub, UUID(export_id))
