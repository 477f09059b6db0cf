"""Privacy jobs: an erasure asked for by an administrator, retention sweeps, exports."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from hub.context import HubContext
from hub.privacy import erase
from workers.base import durable

logger = logging.getLogger("dreamseed.jobs")


@durable
async def erase_user(ctx: dict[str, Any], erasure_id: str) -> dict[str, int]:
    """Apply an erasure (resumes where a killed run stopped; a done one is a no-op)."""
    hub: HubContext = ctx["hub"]
    return await erase.run(hub, UUID(erasure_id))
