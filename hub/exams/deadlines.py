"""Deadlines kept by the server: fixed at start, submitted when they pass.

Each timed attempt gets a job at its deadline; a sweep every few seconds is the backstop for a
job lost with a crashed worker, and it also re-runs follow-ups that failed after their commit.
Both act for every school at once, in a system transaction (a scheduled job acts for no user).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from hub import metrics
from hub.context import HubContext
from hub.exams.endings import follow_up
from hub.exams.views import ATTEMPT_COLUMNS

logger = logging.getLogger("dreamseed.exams")

# A submission whose follow-up has not been marked done this long after is followed up again.
FOLLOW_UP_GRACE_S = 30.0


def deadline_for(exam: dict[str, Any], now: datetime) -> datetime | None:
    """started_at + time limit, capped by the exam's closing time (None: untimed)."""
    deadline = None
    if exam["time_limit_s"] is not None:
        deadline = now + timedelta(seconds=exam["time_limit_s"])
    closes = exam["closes_at"]
    if closes is not None and (deadline is None or closes < deadline):
        deadline = closes
    return deadline


async def schedule(ctx: HubContext, attempt_id: UUID, deadline: datetime) -> None:
    """Queue the job that submits the attempt at its deadline (the sweep covers a failure)."""
    delay = max(0.0, (deadline - ctx.clock()).total_seconds())
    try:
        await ctx.jobs.enqueue(
            "submit_overdue_attempt",
            str(attempt_id),
            job_id=f"exam-deadline:{attempt_id}:{int(deadline.timestamp())}",
            defer_s=delay + 0.5,
        )
    except Exception:
        logger.exception("deadline job for attempt %s not queued; the sweep covers it", attempt_id)


async def submit_overdue(ctx: HubContext, attempt_id: UUID | None = None) -> int:
    """Submit every attempt whose deadline has passed, as of its deadline; follow up on those
    and on earlier submissions whose follow-up failed. Returns how many it submitted."""
    now = ctx.clock()
    async with ctx.db.system() as conn:
        rows = await conn.fetch(
            f"""UPDATE attempts a SET status = 'submitted', finished_at = deadline_at,
                       finished_by = 'deadline', pending_item = NULL, submitted_at = now()
                WHERE status = 'active' AND deadline_at <= $1
                  AND ($2::uuid IS NULL OR id = $2)
                RETURNING {ATTEMPT_COLUMNS},
                          (SELECT title FROM exams WHERE id = a.exam_id) AS title""",  # noqa: S608
            now,
            attempt_id,
        )
        untold = await conn.fetch(
            f"""SELECT {ATTEMPT_COLUMNS}, e.title FROM attempts a JOIN exams e ON e.id = a.exam_id
                WHERE a.status = 'submitted' AND a.followed_up_at IS NULL
                  AND a.submitted_at < now() - make_interval(secs => $1)
                  AND ($2::uuid IS NULL OR a.id = $2)
                ORDER BY a.submitted_at LIMIT 500""",  # noqa: S608
            FOLLOW_UP_GRACE_S,
            attempt_id,
        )
    metrics.EXAM_EVENTS.labels("timed_out").inc(len(rows))
    for row in [*rows, *untold]:
        await follow_up(ctx, dict(row), row["title"])
    return len(rows)
