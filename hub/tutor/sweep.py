"""No answer stays "in progress" for ever: an answer `streaming` without a live lease lost its
worker (ended `interrupted`, keeping the text shown); one still `queued` long after it was
asked never found a worker (ended `error`)."""

from __future__ import annotations

from hub.context import HubContext
from hub.tutor import records
from hub.tutor.finish import finish_answer
from hub.tutor.generate import end_interrupted
from hub.tutor.records import Ending, Outcome
from hub.tutor.runtime import TutorRuntime

QUEUED_TOO_LONG_S = 600


async def sweep_answers(ctx: HubContext, rt: TutorRuntime) -> int:
    """End the answers nobody is generating; returns how many were ended."""
    async with ctx.db.system() as conn:  # every organization's open answers
        rows = await conn.fetch(
            """SELECT id, outcome::text AS outcome,
                      created_at < now() - make_interval(secs => $1) AS stale
               FROM tutor_requests WHERE outcome IN ('queued', 'streaming')
               ORDER BY created_at LIMIT 500""",
            float(QUEUED_TOO_LONG_S),
        )
    ended = 0
    for row in rows:
        if await ctx.redis.exists(ctx.keys.tutor_lease(row["id"])):
            continue
        async with ctx.db.system() as conn:
            request = await records.request_by_id(conn, row["id"])
        if request is None:
            continue
        if request.outcome is Outcome.STREAMING:
            # Re-checked after reading the lease: a worker that just started holds one.
            if await ctx.redis.exists(ctx.keys.tutor_lease(row["id"])):
                continue
            ended += await end_interrupted(ctx, rt, request) is not None
        elif request.outcome is Outcome.QUEUED and row["stale"]:
            ending = Ending(Outcome.ERROR, reason="no tutor worker took the question")
            ended += await finish_answer(ctx, rt.streams, request, ending, "", "error", None)
    return ended
