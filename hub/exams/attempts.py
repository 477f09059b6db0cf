"""Attempts as their student lives them: start, answer, resume, submit.

Rules every mode shares: an answer is committed before it is acknowledged; each item is
answered once; nothing is accepted after submission or after the deadline. The deadline is
fixed at start (started_at + time limit, capped by the exam's closing time) and keeps running
through disconnects; only a proctor's extension moves it. CBT serves the form in order with no
going back; CAT serves the engine's pick, chosen inside the answer's transaction. How an
attempt ends is hub/exams/endings.py; deadlines are hub/exams/deadlines.py; what a proctor does
is hub/proctor/actions.py.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from hub import metrics
from hub.clock import wire_time
from hub.context import Actor, HubContext
from hub.db import Connection, fetch_returning
from hub.errors import DomainError, ErrorCode, forbidden, not_found
from hub.exams import adaptive, deadlines
from hub.exams.adaptive import Scored
from hub.exams.endings import FinishedBy, clamped, finish, follow_up, tell_proctors_quietly
from hub.exams.exams import exam_row
from hub.exams.views import (
    ATTEMPT_COLUMNS,
    ATTEMPT_KEYS,
    NEXT_QUESTION_COLUMNS,
    attempt_view,
    next_question,
)
from schema.models.exams import AnswerBody

logger = logging.getLogger("dreamseed.exams")


async def start_attempt(ctx: HubContext, actor: Actor, exam_id: UUID) -> dict[str, Any]:
    """Begin an attempt; its deadline is fixed now, by the server."""
    now = ctx.clock()
    try:
        async with ctx.db.acting(actor.user_id) as conn:
            exam = await exam_row(conn, exam_id)
            await _check_may_sit(conn, actor, exam)
            _check_window(exam, now)
            number = await _next_number(conn, actor, exam)
            deadline = deadlines.deadline_for(exam, now)
            pending = None
            if exam["mode"] == "cat":
                step = await adaptive.of(ctx).start(conn, exam_id, exam["settings"])
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
    if exam["mode"] == "cat":
        await _count_exposure(ctx, exam_id, pending, started=True)
    if deadline is not None:
        await deadlines.schedule(ctx, attempt["id"], deadline)
    await tell_proctors_quietly(ctx, dict(attempt), "started")
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
            opens_at=wire_time(exam["opens_at"]),
        )
    if exam["closes_at"] is not None and now >= exam["closes_at"]:
        raise DomainError(
            ErrorCode.EXAM_CLOSED, "This exam has closed", closes_at=wire_time(exam["closes_at"])
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


async def get_attempt(ctx: HubContext, actor: Actor, attempt_id: UUID) -> dict[str, Any]:
    """The attempt as its student sees it now: time left and the question(s) to answer."""
    now = ctx.clock()
    async with ctx.db.acting(actor.user_id) as conn:
        attempt = await load_attempt(conn, attempt_id, owner=actor)
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


async def load_attempt(
    conn: Connection,
    attempt_id: UUID,
    *,
    lock: bool = False,
    owner: Actor | None = None,
    exam_id: UUID | None = None,
) -> dict[str, Any]:
    """An attempt the acting user may see (RLS hides other students' attempts: not found);
    with `owner`, it must be theirs; with `exam_id`, of that exam; `lock`: FOR UPDATE."""
    row = await conn.fetchrow(
        f"SELECT {ATTEMPT_COLUMNS} FROM attempts a WHERE a.id = $1"  # noqa: S608
        + (" FOR UPDATE" if lock else ""),
        attempt_id,
    )
    return dict(_check_visible(row, owner=owner, exam_id=exam_id))


def _check_visible(
    row: asyncpg.Record | None, *, owner: Actor | None = None, exam_id: UUID | None = None
) -> asyncpg.Record:
    if row is None or (exam_id is not None and row["exam_id"] != exam_id):
        raise not_found("Attempt of this exam" if exam_id else "Attempt")
    if owner is not None and row["student_id"] != owner.user_id:
        raise forbidden("This attempt is not yours")
    return row


def check_open(attempt: dict[str, Any], now: datetime) -> None:
    """Refuse anything but a submission-free, in-time attempt."""
    if attempt["status"] != "active":
        raise DomainError(ErrorCode.ATTEMPT_FINISHED, "This attempt has been submitted")
    if attempt["deadline_at"] is not None and now >= attempt["deadline_at"]:
        raise DomainError(
            ErrorCode.DEADLINE_PASSED,
            "Time is up: answers are no longer accepted",
            deadline_at=wire_time(attempt["deadline_at"]),
        )


# Everything an answer is judged by, in one round trip: the attempt, locked (FOR UPDATE OF a
# serialises the answers to one attempt), its exam, the answered item, whether this attempt
# answered it, the answers so far (CAT rebuilds θ from them) and the form's next item (CBT).
# The sub-selects read the statement's snapshot, which predates a wait for the lock, while
# the locked row is its latest version: `n_answers` < `answered` says a concurrent answer
# committed in between (`_answer_context` then reads again).
_ANSWER_CONTEXT = f"""
    SELECT {ATTEMPT_COLUMNS}, e.id IS NOT NULL AS exam_found, e.mode::text AS mode, e.settings,
           e.item_count, e.title, it.position AS item_position, it.answer AS key, it.points,
           it.n_choices, it.a AS item_a, it.b AS item_b, it.c AS item_c,
           EXISTS (SELECT 1 FROM answers WHERE attempt_id = a.id AND item_id = $2) AS item_answered,
           so_far.n AS n_answers, so_far.items AS prev_items, so_far.correct AS prev_correct,
           so_far.a AS prev_a, so_far.b AS prev_b, so_far.c AS prev_c,
           CASE WHEN e.mode = 'cbt' THEN (
               SELECT x.item_id FROM exam_items x
               WHERE x.exam_id = e.id AND x.position = a.answered + 1) END AS next_in_form
    FROM attempts a
    LEFT JOIN exams e ON e.id = a.exam_id
    LEFT JOIN LATERAL (
        SELECT x.position, app_item_key(i.id) AS answer, i.points,
               cardinality(i.choices) AS n_choices, i.a, i.b, i.c
        FROM exam_items x JOIN items i ON i.id = x.item_id
        WHERE x.exam_id = e.id AND x.item_id = $2) it ON true
    CROSS JOIN LATERAL (
        SELECT count(*) AS n,
               array_agg(w.item_id ORDER BY w.position) FILTER (WHERE e.mode = 'cat') AS items,
               array_agg(w.correct ORDER BY w.position) FILTER (WHERE e.mode = 'cat') AS correct,
               array_agg(w.a ORDER BY w.position) FILTER (WHERE e.mode = 'cat') AS a,
               array_agg(w.b ORDER BY w.position) FILTER (WHERE e.mode = 'cat') AS b,
               array_agg(w.c ORDER BY w.position) FILTER (WHERE e.mode = 'cat') AS c
        FROM answers w WHERE w.attempt_id = a.id) so_far
    WHERE a.id = $1
    FOR UPDATE OF a"""  # noqa: S608 - constant column list

# The write, in one statement: store the answer, move the attempt on, and read the question
# it shows next (a CAT pick or the form's next item; $18 is NULL when there is none).
_ANSWER_WRITE = f"""
    WITH stored AS (
        INSERT INTO answers (attempt_id, item_id, position, zone_id, org_id, student_id,
                             choice, correct, theta, se, answered_at, a, b, c)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
    ), moved AS (
        UPDATE attempts a SET answered = answered + 1,
               score = score + CASE WHEN $8 THEN $15::int ELSE 0 END,
               max_score = max_score + CASE WHEN $16::bool THEN $15::int ELSE 0 END,
               theta = coalesce($9, theta), se = coalesce($10, se), pending_item = $17
        WHERE id = $1 RETURNING {ATTEMPT_COLUMNS}
    )
    SELECT moved.*, {NEXT_QUESTION_COLUMNS} FROM moved
    LEFT JOIN exam_items x ON x.exam_id = moved.exam_id AND x.item_id = $18::uuid
    LEFT JOIN items i ON i.id = x.item_id"""  # noqa: S608 - constant column lists

_EXAM_KEYS = ("mode", "settings", "item_count", "title")


async def answer(
    ctx: HubContext, actor: Actor, attempt_id: UUID, body: AnswerBody
) -> dict[str, Any]:
    """Record one answer; for CAT, update θ and pick the next item in the same transaction."""
    finished: dict[str, Any] | None = None
    # Hot path: four round trips (BEGIN with the acting user, `_ANSWER_CONTEXT`,
    # `_ANSWER_WRITE`, COMMIT), one more when the answer ends the attempt.
    async with ctx.db.acting_lean(actor.user_id) as conn:
        facts = await _answer_context(conn, actor, attempt_id, body.item_id)
        attempt = {k: facts[k] for k in ATTEMPT_KEYS}
        # Read after the lock: an answer that waited on it must not slip past the deadline.
        now = ctx.clock()
        check_open(attempt, now)
        if not facts["exam_found"]:
            raise not_found("Exam")
        exam = {"id": attempt["exam_id"], **{k: facts[k] for k in _EXAM_KEYS}}
        if facts["item_position"] is None:
            raise DomainError(
                ErrorCode.VALIDATION, "item_id is not a question of this exam", field="item_id"
            )
        if facts["item_answered"]:
            raise DomainError(ErrorCode.ALREADY_ANSWERED, "This question was already answered")
        _check_turn(exam["mode"], attempt, body.item_id, facts["item_position"])
        if body.choice >= facts["n_choices"]:
            raise DomainError(
                ErrorCode.VALIDATION,
                f"choice must be below {facts['n_choices']} for this question",
                field="choice",
            )
        correct = body.choice == facts["key"]
        # CAT: the parameters the engine scored with (its pool may lag a recalibration).
        scored_with = (facts["item_a"], facts["item_b"], facts["item_c"])
        theta = se = None
        pending = None
        if exam["mode"] == "cat":
            previous = [
                Scored(*p)
                for p in zip(
                    facts["prev_items"] or (),
                    facts["prev_correct"] or (),
                    facts["prev_a"] or (),
                    facts["prev_b"] or (),
                    facts["prev_c"] or (),
                    strict=True,
                )
            ]
            with metrics.CAT_SELECTION.time():
                step = await adaptive.of(ctx).answer(
                    conn, exam["id"], exam["settings"], previous, body.item_id, correct
                )
            theta, se, pending = step.theta, step.se, step.next_item
            scored_with = step.scored_with or scored_with
        position = attempt["answered"]
        row = await fetch_returning(
            conn,
            _ANSWER_WRITE,
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
            *scored_with,
            facts["points"],
            exam["mode"] == "cat",
            pending,
            pending if exam["mode"] == "cat" else facts["next_in_form"],
        )
        attempt = {k: row[k] for k in ATTEMPT_KEYS}
        # Fixed forms list every unanswered question: `attempt_view` reads them.
        questions = None if exam["mode"] == "fixed" else next_question(row, attempt)
        if _complete(exam, attempt):
            by: FinishedBy = "cat_stop" if exam["mode"] == "cat" else "student"
            finished = await finish(conn, attempt_id, now, by)
            attempt = finished or attempt
        view = await attempt_view(conn, attempt, exam, now, questions)
    metrics.EXAM_EVENTS.labels("answered").inc()
    if exam["mode"] == "cat":
        await _count_exposure(ctx, attempt["exam_id"], attempt["pending_item"], started=False)
    await tell_proctors_quietly(ctx, attempt, "answered")
    if finished is not None:
        await follow_up(ctx, finished, exam["title"])
    return {
        "item_id": body.item_id,
        "position": position,
        "answered": position + 1,
        "attempt": view,
    }


async def _answer_context(
    conn: Connection, actor: Actor, attempt_id: UUID, item_id: UUID
) -> asyncpg.Record:
    row = _check_visible(await conn.fetchrow(_ANSWER_CONTEXT, attempt_id, item_id), owner=actor)
    if row["n_answers"] < row["answered"]:
        # A concurrent answer committed while this one waited for the lock; the lock is held
        # now, so a second read sees it (and refuses a repeat as `already_answered`).
        row = _check_visible(await conn.fetchrow(_ANSWER_CONTEXT, attempt_id, item_id))
    return row


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
        finished = await finish(conn, row["id"], *clamped(dict(row), ctx.clock(), "student"))
        assert finished is not None  # noqa: S101 - the row is locked and active
        view = await attempt_view(conn, finished, exam, now)
    await follow_up(ctx, finished, exam["title"])
    return view


async def _count_exposure(
    ctx: HubContext, exam_id: UUID, item: UUID | None, *, started: bool
) -> None:
    """Exposure is a soft control: a count lost to a Redis failure must not fail the answer."""
    try:
        await adaptive.of(ctx).count_exposure(exam_id, item, started=started)
    except Exception:
        logger.exception("exposure count for exam %s was not recorded", exam_id)
