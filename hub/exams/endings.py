"""How an attempt ends, and who hears of it.

Every ending (the student's submit, the last CBT answer, the CAT stop rule, the deadline, a
proctor) goes through `finish` inside its transaction and `follow_up` after the commit. The
follow-up tells the student's exam client, the proctors and the parents; it never turns a
committed ending into an error. If it fails half-way, `followed_up_at` stays empty and the
deadline sweep (hub/exams/deadlines.py) runs it again; every part of it is safe to repeat.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from hub import metrics
from hub.bus import PROCTOR_NAMESPACE, attempt_room, exam_room
from hub.clock import wire_time
from hub.context import HubContext
from hub.db import Connection
from hub.exams import alerts
from hub.exams.views import ATTEMPT_COLUMNS

logger = logging.getLogger("dreamseed.exams")

FinishedBy = Literal["student", "deadline", "teacher", "cat_stop"]


def clamped(attempt: dict[str, Any], now: datetime, by: FinishedBy) -> tuple[datetime, FinishedBy]:
    """When and by whom an attempt ends now: past its deadline it ended at the deadline."""
    deadline = attempt["deadline_at"]
    if deadline is not None and now >= deadline:
        return deadline, "deadline"
    return now, by


async def finish(
    conn: Connection, attempt_id: UUID, at: datetime, by: FinishedBy
) -> dict[str, Any] | None:
    """Submit an active attempt (None when it was no longer active)."""
    row = await conn.fetchrow(
        f"""UPDATE attempts a SET status = 'submitted', finished_at = $2, finished_by = $3,
                   pending_item = NULL, submitted_at = now()
            WHERE id = $1 AND status = 'active' RETURNING {ATTEMPT_COLUMNS}""",  # noqa: S608
        attempt_id,
        at,
        by,
    )
    return None if row is None else dict(row)


async def follow_up(
    ctx: HubContext, attempt: dict[str, Any], exam_title: str, reason: str | None = None
) -> bool:
    """Tell the student's exam client, the proctors and the parents; mark it done.

    Returns False (and logs) when something failed: the sweep will try again.
    """
    payload = {
        "attempt_id": str(attempt["id"]),
        "exam_id": str(attempt["exam_id"]),
        "finished_by": attempt["finished_by"],
        "finished_at": wire_time(attempt["finished_at"]),
        "reason": reason,
    }
    try:
        await ctx.bus.to_room(
            PROCTOR_NAMESPACE, attempt_room(attempt["id"]), "exam.finished", payload
        )
        await ctx.bus.to_user(attempt["student_id"], "exam.finished", payload)
        await tell_proctors(ctx, attempt, "finished")
        await alerts.exam_result(
            ctx,
            attempt_id=attempt["id"],
            exam_id=attempt["exam_id"],
            student_id=attempt["student_id"],
            exam_title=exam_title,
            score=attempt["score"],
            max_score=attempt["max_score"],
        )
        async with ctx.db.system() as conn:
            done = await conn.fetchval(
                "UPDATE attempts SET followed_up_at = now() "
                "WHERE id = $1 AND followed_up_at IS NULL RETURNING id",
                attempt["id"],
            )
    except Exception:
        logger.exception("follow-up of attempt %s failed; the sweep retries it", attempt["id"])
        return False
    if done is not None:  # counted once, however many times it was retried
        metrics.EXAM_EVENTS.labels(f"finished_{attempt['finished_by']}").inc()
    return True


async def tell_proctors(ctx: HubContext, attempt: dict[str, Any], change: str) -> None:
    """Live progress for the teacher's dashboard (scores aggregate as answers arrive)."""
    await ctx.bus.to_room(
        PROCTOR_NAMESPACE,
        exam_room(attempt["exam_id"]),
        "proctor.progress",
        {
            "change": change,
            "attempt_id": str(attempt["id"]),
            "student_id": str(attempt["student_id"]),
            "status": attempt["status"],
            "answered": attempt["answered"],
            "score": attempt["score"],
            "max_score": attempt["max_score"],
            "deadline_at": wire_time(attempt["deadline_at"]) if attempt["deadline_at"] else None,
        },
    )


async def tell_proctors_quietly(ctx: HubContext, attempt: dict[str, Any], change: str) -> None:
    """`tell_proctors` after a commit: a lost progress event must not fail the request (the
    dashboard's roster reads the truth from PostgreSQL)."""
    try:
        await tell_proctors(ctx, attempt, change)
    except Exception:
        logger.exception("progress event for attempt %s was not sent", attempt["id"])
