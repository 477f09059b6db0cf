"""Operations views for system administrators: the job queue and its dead letters."""

from __future__ import annotations

from typing import Any

from api.endpoint import Call, endpoint
from hub import jobs
from hub.accounts.roles import load_roles
from hub.errors import forbidden
from schema.models.common import Response


class JobsOverview(Response):
    queue_depth: int
    dead_letters: list[dict[str, Any]]


@endpoint(
    "GET",
    "/admin/jobs",
    summary="Queue depth and the jobs that kept failing",
    response=JobsOverview,
    tag="admin",
)
async def jobs_overview(call: Call) -> dict[str, Any]:
    async with call.ctx.db.acting(call.user.user_id) as conn:
        if not (await load_roles(conn, call.user.user_id)).is_sys_admin:
            raise forbidden("Only system administrators see the job queue")
    return {
        "queue_depth": await jobs.queue_depth(call.ctx.redis, call.ctx.keys.job_queue),
        "dead_letters": await jobs.dead_letters(call.ctx.redis, call.ctx.keys),
    }


ENDPOINTS = [jobs_overview]
