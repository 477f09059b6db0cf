"""File jobs: check a new upload (clamd, image cleaning), transcribe voice, and the sweeps
that retry files left pending and forget abandoned resumable uploads."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from hub.context import HubContext
from hub.files import processing, releasing, resumable, voice
from workers.base import durable

logger = logging.getLogger("dreamseed.jobs")


def _hub(ctx: dict[str, Any]) -> HubContext:
    hub: HubContext = ctx["hub"]
    return hub


@durable
async def process_file(ctx: dict[str, Any], file_id: str) -> str:
    """Scan and clean one upload; clamd down or slow raises, so the job retries (file pending)."""
    return await processing.process_file(_hub(ctx), UUID(file_id))


@durable
async def transcribe_file(ctx: dict[str, Any], file_id: str) -> str | None:
    """Transcribe a clean audio file; its voice messages get `message.transcript`."""
    return await voice.transcribe_file(_hub(ctx), UUID(file_id))


@durable
async def requeue_pending_files(ctx: dict[str, Any]) -> int:
    """Every minute: files still pending (scanner was down, a job was lost) are queued again."""
    count = await processing.requeue_pending(_hub(ctx))
    if count:
        logger.info("re-queued %d pending file(s)", count)
    return count


@durable
async def expire_uploads(ctx: dict[str, Any]) -> int:
    """Resumable uploads nobody finished within a day are dropped with their bytes."""
    return await resumable.expire(_hub(ctx))


@durable
async def expire_unattached_files(ctx: dict[str, Any]) -> int:
    """Uploads nobody attached to a message within a week lose their bytes."""
    return await releasing.expire_unattached(_hub(ctx))
