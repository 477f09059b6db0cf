"""What a proctor does about one attempt of the exam they watch: warn, extend, end.

Each command names an attempt; it must belong to the proctor's exam, and the proctor must be
staff of its organization (an attempt of another school is not found under RLS). Every action
is recorded in the attempt's event log, and the student's exam client hears it at once.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hub.bus import PROCTOR_NAMESPACE, attempt_room
from hub.context import Actor, HubContext
from hub.db import Connection
from hub.errors import DomainError, ErrorCode, not_found
from hub.exams import attempts
from hub.exams.access import require_staff
from hub.exams.views import ATTEMPT_COLUMNS
from schema.models.proctor import End, Extend, Warn


async def _attempt_of_exam(
    conn: Connection, actor: Actor, exam_id: UUID, attempt_id: UUID, what: str
) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"SELECT {ATTEMPT_COLUMNS} FROM attempts a WHERE a.id = $1 AND a.exam_id = $2",  # noqa: S608
        attempt_id,
        exam_id,
    )
    if row is None:
        raise not_found("Attempt of this exam")
    await require_staff(conn, actor, row["org_id"], what)
    return dict(row)


async def warn(ctx: HubContext, actor: Actor, exam_id: UUID, body: Warn) -> dict[str, Any]:
    """Send the student a warning they see at once; it stays in the attempt's log."""
    now = ctx.clock()
    async with ctx.db.acting(actor.user_id) as conn:
        attempt = await _attempt_of_exam(conn, actor, exam_id, body.attempt_id, "warn students")
        if attempt["status"] != "active":
            raise DomainError(ErrorCode.ATTEMPT_FINISHED, "This attempt has been submitted")
        event_id = await attempts.record_action(
            conn, attempt, actor, "warning_sent", now, {"message": body.message}
        )
    warning = {
        "attempt_id": str(body.attempt_id),
        "event_id": event_id,
        "message": body.message,
        "sent_at": now.isoformat(),
    }
    await ctx.bus.to_room(
        PROCTOR_NAMESPACE, attempt_room(body.attempt_id), "proctor.warning", warning
    )
    return warning


async def extend(ctx: HubContext, actor: Actor, exam_id: UUID, body: Extend) -> dict[str, Any]:
    """Give one student more time; their client hears the new deadline."""
    async with ctx.db.acting(actor.user_id) as conn:
        await _attempt_of_exam(conn, actor, exam_id, body.attempt_id, "extend an attempt")
    attempt = await attempts.extend_time(ctx, actor, body.attempt_id, body.seconds)
    left = (attempt["deadline_at"] - ctx.clock()).total_seconds()
    return {
        "attempt_id": body.attempt_id,
        "deadline_at": attempt["deadline_at"],
        "time_left_s": max(0.0, left),
        "seconds": body.seconds,
    }


async def end(ctx: HubContext, actor: Actor, exam_id: UUID, body: End) -> dict[str, Any]:
    """End the attempt now: it is scored as it stands, and the student's client is told."""
    async with ctx.db.acting(actor.user_id) as conn:
        await _attempt_of_exam(conn, actor, exam_id, body.attempt_id, "end an attempt")
    attempt = await attempts.end_attempt(ctx, actor, body.attempt_id, body.reason)
    return {
        "attempt_id": attempt["id"],
        **{
            key: attempt[key]
            for key in ("status", "finished_by", "finished_at", "answered", "score", "max_score")
        },
    }
