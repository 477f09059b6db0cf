"""What a proctor does about one attempt of the exam they watch: warn, extend, end.

Each command names an attempt; it must belong to the proctor's exam, and the proctor must be
staff of its organization (an attempt of another school is not found under RLS). Every action
is recorded in the attempt's event log in the same transaction, and the student's exam client
hears it at once.

An extension may carry a student past the exam's closing time: it is a proctor's deliberate
decision for one student (an accommodation), which the closing time must not undo.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from hub.bus import PROCTOR_NAMESPACE, attempt_room
from hub.clock import wire_time
from hub.context import Actor, HubContext
from hub.db import Connection, fetch_returning
from hub.errors import DomainError, ErrorCode
from hub.exams import deadlines
from hub.exams.access import require_staff
from hub.exams.attempts import check_open, load_attempt
from hub.exams.endings import clamped, finish, follow_up, tell_proctors_quietly
from hub.exams.views import ATTEMPT_COLUMNS
from schema.models.proctor import End, Extend, Warn


async def _watched(
    conn: Connection, actor: Actor, exam_id: UUID, attempt_id: UUID, what: str
) -> dict[str, Any]:
    """The attempt of the watched exam, locked, once the proctor is known to be staff."""
    attempt = await load_attempt(conn, attempt_id, exam_id=exam_id)
    await require_staff(conn, actor, attempt["org_id"], what)
    return await load_attempt(conn, attempt_id, lock=True, exam_id=exam_id)


async def record_action(
    conn: Connection,
    attempt: dict[str, Any],
    actor: Actor,
    kind: str,
    now: datetime,
    details: dict[str, Any],
) -> int:
    """A proctor's action, in the attempt's event log beside the client's flags."""
    event_id: int = await conn.fetchval(
        """INSERT INTO proctor_events (attempt_id, exam_id, zone_id, org_id, student_id, actor_id,
                                       kind, severity, server_at, details)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'info', $8, $9) RETURNING id""",
        attempt["id"],
        attempt["exam_id"],
        attempt["zone_id"],
        attempt["org_id"],
        attempt["student_id"],
        actor.user_id,
        kind,
        now,
        details,
    )
    return event_id


async def warn(ctx: HubContext, actor: Actor, exam_id: UUID, body: Warn) -> dict[str, Any]:
    """Send the student a warning they see at once; it stays in the attempt's log."""
    async with ctx.db.acting(actor.user_id) as conn:
        attempt = await _watched(conn, actor, exam_id, body.attempt_id, "warn students")
        now = ctx.clock()
        if attempt["status"] != "active":
            raise DomainError(ErrorCode.ATTEMPT_FINISHED, "This attempt has been submitted")
        event_id = await record_action(
            conn, attempt, actor, "warning_sent", now, {"message": body.message}
        )
    warning = {
        "attempt_id": str(body.attempt_id),
        "event_id": event_id,
        "message": body.message,
        "sent_at": wire_time(now),
    }
    await ctx.bus.to_room(
        PROCTOR_NAMESPACE, attempt_room(body.attempt_id), "proctor.warning", warning
    )
    return warning


async def extend(ctx: HubContext, actor: Actor, exam_id: UUID, body: Extend) -> dict[str, Any]:
    """Give one student more time; their client hears the new deadline at once."""
    async with ctx.db.acting(actor.user_id) as conn:
        attempt = await _watched(conn, actor, exam_id, body.attempt_id, "extend an attempt")
        now = ctx.clock()
        check_open(attempt, now)
        if attempt["deadline_at"] is None:
            raise DomainError(ErrorCode.CONFLICT, "This attempt has no time limit to extend")
        row = await fetch_returning(
            conn,
            f"""UPDATE attempts a SET deadline_at = deadline_at + make_interval(secs => $2)
                WHERE id = $1 RETURNING {ATTEMPT_COLUMNS}""",  # noqa: S608 - constant columns
            body.attempt_id,
            float(body.seconds),
        )
        extended = dict(row)
        await record_action(conn, extended, actor, "time_extended", now, {"seconds": body.seconds})
    deadline = extended["deadline_at"]
    await deadlines.schedule(ctx, body.attempt_id, deadline)
    await ctx.bus.to_room(
        PROCTOR_NAMESPACE,
        attempt_room(body.attempt_id),
        "exam.time_extended",
        {
            "attempt_id": str(body.attempt_id),
            "deadline_at": wire_time(deadline),
            "seconds": body.seconds,
        },
    )
    await tell_proctors_quietly(ctx, extended, "time_extended")
    return {
        "attempt_id": body.attempt_id,
        "deadline_at": deadline,
        "time_left_s": max(0.0, (deadline - ctx.clock()).total_seconds()),
        "seconds": body.seconds,
    }


async def end(ctx: HubContext, actor: Actor, exam_id: UUID, body: End) -> dict[str, Any]:
    """End the attempt now: it is scored as it stands, and the student's client is told. Past
    its deadline (before the sweep came round) it ended at the deadline, like a late submit."""
    async with ctx.db.acting(actor.user_id) as conn:
        attempt = await _watched(conn, actor, exam_id, body.attempt_id, "end an attempt")
        now = ctx.clock()
        if attempt["status"] != "active":
            raise DomainError(ErrorCode.ATTEMPT_FINISHED, "This attempt has been submitted")
        ended = await finish(conn, body.attempt_id, *clamped(attempt, now, "teacher"))
        assert ended is not None  # noqa: S101 - locked and active
        await record_action(conn, ended, actor, "attempt_ended", now, {"reason": body.reason})
        title = await conn.fetchval("SELECT title FROM exams WHERE id = $1", exam_id)
    await follow_up(ctx, ended, title, reason=body.reason)
    return {
        "attempt_id": ended["id"],
        **{
            key: ended[key]
            for key in ("status", "finished_by", "finished_at", "answered", "score", "max_score")
        },
    }
