"""Attempts: start, answer, submit; the server-kept deadline; a proctor's extension and end.

Rules every mode shares: an answer is committed before it is acknowledged; each item is
answered once; nothing is accepted after submission or after the deadline. The deadline is
fixed at start (started_at + time limit, capped by the exam's closing time) and keeps running
through disconnects; only a proctor's extension moves it. CBT serves the form in order with no
going back; CAT serves the engine's pick, chosen inside the answer's transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from hub import metrics
from hub.bus import PROCTOR_NAMESPACE, attempt_room, exam_room
from hub.context import Actor, HubContext
from hub.db import Connection, fetch_returning
from hub.errors import DomainError, ErrorCode, forbidden, not_found
from hub.exams import alerts
from hub.exams.access import require_staff
from hub.exams.exams import exam_row
from hub.exams.views import ATTEMPT_COLUMNS, attempt_view
from schema.models.exams import AnswerBody

FinishedBy = str  # 'student' | 'deadline' | 'teacher' | 'cat_stop'
# A submission whose follow-up has not been marked done this long after is followed up again.
FOLLOW_UP_GRACE_S = 30.0


async def start_attempt(ctx: HubContext, actor: Actor, exam_id: UUID) -> dict[str, Any]:
    """Begin an attempt; its deadline is fixed now, by the server."""
    now = ctx.clock()
    try:
        async with ctx.db.acting(actor.user_id) as conn:
            exam = await exam_row(conn, exam_id)
            await _check_may_sit(conn, actor, exam)
            _check_window(exam, now)
            number = await _next_number(conn, actor, exam)
            deadline = _deadline(exam, now)
            pending = None
            if exam["mode"] == "cat":
                step = await ctx.adaptive.start(conn, exam_id, exam["settings"])
                pending = step.next_item
            max_score = 0
            if exam["mode"] != "cat":
                max_score = await conn.fetchval(
                    "SELECT coalesce(sum(i.points), 0) FROM exam_items x "
                    "JOIN items i ON i.id = x.item_id WHERE x.exam_id = $1",
                    exam_id,
                )
            attempt = await fetch_returning(
                conn,
                f"""INSERT INTO attempts AS a (exam_id, zone_id, org_id, student_id, number,
                                              started_at, deadline_at, pending_item, max_score)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                    RETURNING {ATTEMPT_COLUMNS}""",  # noqa: S608 - constant column list
                exam_id,
                exam["zone_id"],
                exam["org_id"],
                actor.user_id,
                number,
                now,
                deadline,
                pending,
                max_score,
            )
            view = await attempt_view(conn, dict(attempt), exam, now)
    except asyncpg.UniqueViolationError:
        # A concurrent start of the same student won the race.
        raise DomainError(
            ErrorCode.CONFLICT, "An attempt at this exam is already in progress"
        ) from None
    metrics.EXAM_EVENTS.labels("started").inc()
    if deadline is not None:
        await _schedule_deadline(ctx, attempt["id"], deadline)
    await _tell_proctors(ctx, dict(attempt), "started")
    return view


async def _check_may_sit(conn: Connection, actor: Actor, exam: dict[str, Any]) -> None:
    is_student = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM memberships
                          WHERE user_id = $1 AND org_id = $2 AND role = 'student')
                  AND ($3::uuid IS NULL OR EXISTS (
                          SELECT 1 FROM class_members WHERE class_id = $3 AND user_id = $1))""",
        actor.user_id,
        exam["org_id"],
        exam["class_id"],
    )
    if not is_student:
        raise forbidden("Only students this exam is for may sit it")


def _check_window(exam: dict[str, Any], now: datetime) -> None:
    if exam["opens_at"] is not None and now < exam["opens_at"]:
        raise DomainError(
            ErrorCode.EXAM_CLOSED,
            "This exam has not opened yet",
            opens_at=exam["opens_at"].isoformat(),
        )
    if exam["closes_at"] is not None and now >= exam["closes_at"]:
        raise DomainError(
            ErrorCode.EXAM_CLOSED, "This exam has closed", closes_at=exam["closes_at"].isoformat()
        )


async def _next_number(conn: Connection, actor: Actor, exam: dict[str, Any]) -> int:
    rows = await conn.fetch(
        "SELECT id, status::text AS status FROM attempts WHERE exam_id = $1 AND student_id = $2",
        exam["id"],
        actor.user_id,
    )
    active = [r["id"] for r in rows if r["status"] == "active"]
    if active:
        raise DomainError(
            ErrorCode.CONFLICT,
            "An attempt at this exam is already in progress",
            attempt_id=str(active[0]),
        )
    if len(rows) >= exam["max_attempts"]:
        raise DomainError(
            ErrorCode.NO_ATTEMPTS_LEFT,
            f"This exam allows {exam['max_attempts']} attempt(s), all used",
        )
    return len(rows) + 1


def _deadline(exam: dict[str, Any], now: datetime) -> datetime | None:
    deadline = None
    if exam["time_limit_s"] is not None:
        deadline = now + timedelta(seconds=exam["time_limit_s"])
    closes = exam["closes_at"]
    if closes is not None and (deadline is None or closes < deadline):
        deadline = closes
    return deadline


async def get_attempt(ctx: HubContext, actor: Actor, attempt_id: UUID) -> dict[str, Any]:
    """The attempt as its student sees it now: time left and the question(s) to answer."""
    now = ctx.clock()
    async with ctx.db.acting(actor.user_id) as conn:
        attempt = await _attempt(conn, attempt_id, lock=False)
        if attempt["student_id"] != actor.user_id:
            raise forbidden("This attempt is not yours")
        exam = await exam_row(conn, attempt["exam_id"])
        return await attempt_view(conn, attempt, exam, now)


async def current_attempt(ctx: HubContext, actor: Actor, exam_id: UUID) -> dict[str, Any]:
    """My attempt in progress at this exam (a client that reconnects resumes it)."""
    async with ctx.db.acting(actor.user_id) as conn:
        attempt_id = await conn.fetchval(
            "SELECT id FROM attempts WHERE exam_id = $1 AND student_id = $2 "
            "ORDER BY number DESC LIMIT 1",
            exam_id,
            actor.user_id,
        )
    if attempt_id is None:
        raise not_found("Attempt")
    return await get_attempt(ctx, actor, attempt_id)


async def _attempt(conn: Connection, attempt_id: UUID, lock: bool) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"SELECT {ATTEMPT_COLUMNS} FROM attempts a WHERE a.id = $1"  # noqa: S608
        + (" FOR UPDATE" if lock else ""),
        attempt_id,
    )
    if row is None:
        raise not_found("Attempt")
    return dict(row)


def _check_open(attempt: dict[str, Any], now: datetime) -> None:
    if attempt["status"] != "active":
        raise DomainError(ErrorCode.ATTEMPT_FINISHED, "This attempt has been submitted")
    if attempt["deadline_at"] is not None and now >= attempt["deadline_at"]:
        raise DomainError(
            ErrorCode.DEADLINE_PASSED,
            "Time is up: answers are no longer accepted",
            deadline_at=attempt["deadline_at"].isoformat(),
        )


_ITEM_OF_EXAM = """
    SELECT x.position, i.answer, i.points, cardinality(i.choices) AS n_choices,
           EXISTS (SELECT 1 FROM answers WHERE attempt_id = $3 AND item_id = $2) AS answered
    FROM exam_items x JOIN items i ON i.id = x.item_id
    WHERE x.exam_id = $1 AND x.item_id = $2"""


async def answer(
    ctx: HubContext, actor: Actor, attempt_id: UUID, body: AnswerBody
) -> dict[str, Any]:
    """Record one answer; for CAT, update θ and pick the next item in the same transaction."""
    now = ctx.clock()
    finished: dict[str, Any] | None = None
    async with ctx.db.acting(actor.user_id) as conn:
        attempt = await _attempt(conn, attempt_id, lock=True)
        if attempt["student_id"] != actor.user_id:
            raise forbidden("This attempt is not yours")
        _check_open(attempt, now)
        exam = await exam_row(conn, attempt["exam_id"])
        item = await conn.fetchrow(_ITEM_OF_EXAM, exam["id"], body.item_id, attempt_id)
        if item is None:
            raise DomainError(
                ErrorCode.VALIDATION, "item_id is not a question of this exam", field="item_id"
            )
        if item["answered"]:
            raise DomainError(ErrorCode.ALREADY_ANSWERED, "This question was already answered")
        _check_turn(exam["mode"], attempt, body.item_id, item["position"])
        if body.choice >= item["n_choices"]:
            raise DomainError(
                ErrorCode.VALIDATION,
                f"choice must be below {item['n_choices']} for this question",
                field="choice",
            )
        correct = body.choice == item["answer"]
        theta = se = None
        pending = None
        if exam["mode"] == "cat":
            previous = [
                (r["item_id"], r["correct"])
                for r in await conn.fetch(
                    "SELECT item_id, correct FROM answers WHERE attempt_id = $1 ORDER BY position",
                    attempt_id,
                )
            ]
            with metrics.CAT_SELECTION.time():
                step = await ctx.adaptive.answer(
                    conn, exam["id"], exam["settings"], previous, body.item_id, correct
                )
            theta, se, pending = step.theta, step.se, step.next_item
        position = attempt["answered"]
        await conn.execute(
            """INSERT INTO answers (attempt_id, item_id, position, zone_id, org_id, student_id,
                                    choice, correct, theta, se, answered_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
            attempt_id,
            body.item_id,
            position,
            attempt["zone_id"],
            attempt["org_id"],
            actor.user_id,
            body.choice,
            correct,
            theta,
            se,
            now,
        )
        points = item["points"]
        row = await fetch_returning(
            conn,
            f"""UPDATE attempts a SET answered = answered + 1,
                       score = score + CASE WHEN $2 THEN $3::int ELSE 0 END,
                       max_score = max_score + CASE WHEN $4 THEN $3::int ELSE 0 END,
                       theta = coalesce($5, theta), se = coalesce($6, se), pending_item = $7
                WHERE id = $1 RETURNING {ATTEMPT_COLUMNS}""",  # noqa: S608
            attempt_id,
            correct,
            points,
            exam["mode"] == "cat",
            theta,
            se,
            pending,
        )
        attempt = dict(row)
        if _complete(exam, attempt):
            by = "cat_stop" if exam["mode"] == "cat" else "student"
            finished = await _finish(conn, attempt_id, now, by)
            attempt = finished or attempt
        view = await attempt_view(conn, attempt, exam, now)
    metrics.EXAM_EVENTS.labels("answered").inc()
    await _tell_proctors(ctx, attempt, "answered")
    if finished is not None:
        await _after_finish(ctx, finished, exam["title"])
    return {
        "item_id": body.item_id,
        "position": position,
        "answered": position + 1,
        "attempt": view,
    }


def _check_turn(mode: str, attempt: dict[str, Any], item_id: UUID, position: int) -> None:
    if mode == "cbt" and position != attempt["answered"]:
        raise DomainError(
            ErrorCode.OUT_OF_ORDER,
            "CBT questions are answered in order, without going back or skipping ahead",
            expected_position=attempt["answered"],
        )
    if mode == "cat" and item_id != attempt["pending_item"]:
        raise DomainError(
            ErrorCode.OUT_OF_ORDER,
            "Answer the question you were given",
            expected_item_id=str(attempt["pending_item"]),
        )


def _complete(exam: dict[str, Any], attempt: dict[str, Any]) -> bool:
    if exam["mode"] == "cat":
        return attempt["pending_item"] is None
    # CBT cannot go back, so its last answer ends it; a fixed form waits for the submit.
    return exam["mode"] == "cbt" and int(attempt["answered"]) >= int(exam["item_count"])


async def submit(
    ctx: HubContext, actor: Actor, exam_id: UUID, attempt_id: UUID | None = None
) -> dict[str, Any]:
    """The student hands in their attempt in progress (after the deadline: as of the deadline)."""
    now = ctx.clock()
    async with ctx.db.acting(actor.user_id) as conn:
        exam = await exam_row(conn, exam_id)
        row = await conn.fetchrow(
            f"""SELECT {ATTEMPT_COLUMNS} FROM attempts a
                WHERE a.exam_id = $1 AND a.student_id = $2 AND ($3::uuid IS NULL OR a.id = $3)
                ORDER BY (a.status = 'active') DESC, a.number DESC LIMIT 1 FOR UPDATE""",  # noqa: S608
            exam_id,
            actor.user_id,
            attempt_id,
        )
        if row is None:
            raise not_found("Attempt")
        if row["status"] != "active":
            raise DomainError(ErrorCode.ATTEMPT_FINISHED, "This attempt was already submitted")
        deadline = row["deadline_at"]
        late = deadline is not None and now >= deadline
        finished = await _finish(
            conn, row["id"], deadline if late else now, "deadline" if late else "student"
        )
        assert finished is not None  # noqa: S101 - the row is locked and active
        view = await attempt_view(conn, finished, exam, now)
    await _after_finish(ctx, finished, exam["title"])
    return view


async def _finish(
    conn: Connection, attempt_id: UUID, at: datetime, by: FinishedBy
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"""UPDATE attempts a SET status = 'submitted', finished_at = $2, finished_by = $3,
                   pending_item = NULL, submitted_at = now()
            WHERE id = $1 AND status = 'active' RETURNING {ATTEMPT_COLUMNS}""",  # noqa: S608
        attempt_id,
        at,
        by,
    )
    return None if row is None else dict(row)


async def submit_overdue(ctx: HubContext, attempt_id: UUID | None = None) -> int:
    """Submit every attempt whose deadline has passed, as of its deadline (a scheduled job).

    Cross-tenant on purpose: the job acts for every school at once.
    """
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
        await _after_finish(ctx, dict(row), row["title"])
    return len(rows)


async def _schedule_deadline(ctx: HubContext, attempt_id: UUID, deadline: datetime) -> None:
    """A job at the deadline submits the attempt; the every-few-seconds sweep is the backstop."""
    delay = max(0.0, (deadline - ctx.clock()).total_seconds())
    await ctx.jobs.enqueue(
        "submit_overdue_attempt",
        str(attempt_id),
        job_id=f"exam-deadline:{attempt_id}:{int(deadline.timestamp())}",
        defer_s=delay + 0.5,
    )


async def extend_time(
    ctx: HubContext, actor: Actor, attempt_id: UUID, seconds: int
) -> dict[str, Any]:
    """A proctor gives one student more time; their client hears the new deadline at once."""
    now = ctx.clock()
    async with ctx.db.acting(actor.user_id) as conn:
        attempt = await _attempt(conn, attempt_id, lock=True)
        await require_staff(conn, actor, attempt["org_id"], "extend an attempt")
        _check_open(attempt, now)
        if attempt["deadline_at"] is None:
            raise DomainError(ErrorCode.CONFLICT, "This attempt has no time limit to extend")
        row = await fetch_returning(
            conn,
            f"""UPDATE attempts a SET deadline_at = deadline_at + make_interval(secs => $2)
                WHERE id = $1 RETURNING {ATTEMPT_COLUMNS}""",  # noqa: S608
            attempt_id,
            float(seconds),
        )
        await record_action(conn, dict(row), actor, "time_extended", now, {"seconds": seconds})
    attempt = dict(row)
    await _schedule_deadline(ctx, attempt_id, attempt["deadline_at"])
    payload = {
        "attempt_id": str(attempt_id),
        "deadline_at": attempt["deadline_at"].isoformat(),
        "seconds": seconds,
    }
    await ctx.bus.to_room(
        PROCTOR_NAMESPACE, attempt_room(attempt_id), "exam.time_extended", payload
    )
    await _tell_proctors(ctx, attempt, "time_extended")
    return attempt


async def end_attempt(
    ctx: HubContext, actor: Actor, attempt_id: UUID, reason: str
) -> dict[str, Any]:
    """A proctor ends a student's attempt now; what was answered is scored as it stands."""
    now = ctx.clock()
    async with ctx.db.acting(actor.user_id) as conn:
        attempt = await _attempt(conn, attempt_id, lock=True)
        await require_staff(conn, actor, attempt["org_id"], "end an attempt")
        if attempt["status"] != "active":
            raise DomainError(ErrorCode.ATTEMPT_FINISHED, "This attempt has been submitted")
        finished = await _finish(conn, attempt_id, now, "teacher")
        assert finished is not None  # noqa: S101 - locked and active
        await record_action(conn, finished, actor, "attempt_ended", now, {"reason": reason})
        title = (await exam_row(conn, attempt["exam_id"]))["title"]
    await _after_finish(ctx, finished, title, reason=reason)
    return finished


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


async def _after_finish(
    ctx: HubContext, attempt: dict[str, Any], exam_title: str, reason: str | None = None
) -> None:
    """Tell the student's exam client, the proctors and the student's parents.

    Safe to repeat (clients take `exam.finished` as a state, the parent alert is deduplicated
    by attempt), which is what lets the sweep retry a follow-up that failed half-way.
    """
    metrics.EXAM_EVENTS.labels(f"finished_{attempt['finished_by']}").inc()
    payload = {
        "attempt_id": str(attempt["id"]),
        "exam_id": str(attempt["exam_id"]),
        "finished_by": attempt["finished_by"],
        "finished_at": attempt["finished_at"].isoformat(),
        "reason": reason,
    }
    await ctx.bus.to_room(PROCTOR_NAMESPACE, attempt_room(attempt["id"]), "exam.finished", payload)
    await ctx.bus.to_user(attempt["student_id"], "exam.finished", payload)
    await _tell_proctors(ctx, attempt, "finished")
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
        await conn.execute(
            "UPDATE attempts SET followed_up_at = now() WHERE id = $1", attempt["id"]
        )


async def _tell_proctors(ctx: HubContext, attempt: dict[str, Any], change: str) -> None:
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
            "deadline_at": attempt["deadline_at"].isoformat() if attempt["deadline_at"] else None,
        },
    )
