"""The tutor worker: `dreamseed tutor` (Procfile `tutor`) generates answers from its own
queue, many at a time (each mostly waits on the model server), apart from the other jobs.

It keeps an HTTP session to the model servers and listens for cancels from every hub.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from arq import cron

from hub.context import HubContext
from hub.keys import RedisKeys
from hub.redis_bus import RedisBus
from hub.services import close_context, open_context
from hub.settings import Settings, load_settings
from hub.tutor.generate import generate_answer
from hub.tutor.records import Outcome
from hub.tutor.runtime import TutorRuntime, close_runtime, open_runtime
from hub.tutor.sweep import sweep_answers


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or load_settings().require_runtime()
    keys = RedisKeys(settings.redis_namespace)
    bus = RedisBus(settings.redis_dsn, keys.socketio_channel)
    hub = await open_context(settings, bus)
    ctx["hub"], ctx["bus"] = hub, bus
    ctx["tutor"] = await open_runtime(settings, hub.redis, hub.keys)


async def shutdown(ctx: dict[str, Any]) -> None:
    if "tutor" in ctx:
        await close_runtime(ctx["tutor"])
    if "hub" in ctx:
        await close_context(ctx["hub"])
    if "bus" in ctx:
        await ctx["bus"].close()


async def generate_tutor_answer(ctx: dict[str, Any], answer_id: str) -> str | None:
    """Generate one answer (a job per question, id `tutor:<answer id>`)."""
    hub: HubContext = ctx["hub"]
    runtime: TutorRuntime = ctx["tutor"]
    outcome: Outcome | None = await generate_answer(hub, runtime, UUID(answer_id))
    return None if outcome is None else str(outcome)


async def sweep_tutor_answers(ctx: dict[str, Any]) -> int:
    """End answers whose worker died (interrupted) or that no worker took."""
    return await sweep_answers(ctx["hub"], ctx["tutor"])


class TutorWorkerSettings:
    functions: ClassVar[list[Any]] = [generate_tutor_answer, sweep_tutor_answers]
    cron_jobs: ClassVar[list[Any]] = [
        cron(sweep_tutor_answers, second=set(range(0, 60, 5)), run_at_startup=True),
    ]
    on_startup = startup
    on_shutdown = shutdown
    max_jobs = 1000
    job_timeout = 900
    # A job cut off by a worker's death runs once more: it then ends the answer interrupted.
    max_tries = 2
