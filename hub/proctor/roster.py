"""The proctor's roster of an exam: every attempt from PostgreSQL, with its live state.

Status, progress, score and the deadline come from PostgreSQL (the record); connected
sockets, the last heartbeat and the question on screen come from Redis (ephemeral); flag
counts come from the attempt's proctoring events. Staff of the exam's organization only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from hub.context import Actor, HubContext
from hub.db import Connection
from hub.exams.access import require_staff
from hub.exams.exams import exam_row
from hub.proctor import live

_ATTEMPTS = """
    SELECT a.id AS attempt_id, a.student_id, u.display_name AS student_name, a.number,
           a.status::text AS status, a.finished_by, a.finished_at, a.answered, a.score,
           a.max_score, a.deadline_at
    FROM attempts a JOIN users u ON u.id = a.student_id
    WHERE a.exam_id = $1
    ORDER BY u.display_name, a.number"""

_FLAG_COUNTS = """
    SELECT attempt_id, severity, count(*)::int AS n FROM proctor_events
    WHERE exam_id = $1 AND actor_id IS NULL
    GROUP BY attempt_id, severity"""


async def require_proctor(conn: Connection, actor: Actor, exam_id: UUID) -> dict[str, Any]:
    """The exam, if the actor may proctor it (another school's exam is not found under RLS)."""
    exam = await exam_row(conn, exam_id)
    await require_staff(conn, actor, exam["org_id"], "proctor this exam")
    return exam


async def admit_proctor(ctx: HubContext, actor: Actor, exam_id: UUID) -> None:
    """Refuse (not found / forbidden) anyone who may not proctor the exam."""
    async with ctx.db.acting(actor.user_id) as conn:
        await require_proctor(conn, actor, exam_id)


async def exam_roster(ctx: HubContext, actor: Actor, exam_id: UUID) -> dict[str, Any]:
    """Every attempt of the exam as a proctor sees it now."""
    now = ctx.clock()
    async with ctx.db.acting(actor.user_id) as conn:
        await require_proctor(conn, actor, exam_id)
        rows = [dict(r) for r in await conn.fetch(_ATTEMPTS, exam_id)]
        counts: dict[UUID, dict[str, int]] = {}
        for r in await conn.fetch(_FLAG_COUNTS, exam_id):
            counts.setdefault(r["attempt_id"], {})[r["severity"]] = r["n"]
    now_ms = int(now.timestamp() * 1000)
    states = await live.snapshot(ctx, exam_id, [r["attempt_id"] for r in rows], now_ms)
    return {
        "exam_id": exam_id,
        "server_time": now,
        "attempts": [
            _entry(r, states[r["attempt_id"]], counts.get(r["attempt_id"], {}), now) for r in rows
        ],
    }


def _entry(
    row: dict[str, Any], state: live.LiveEntry, counts: dict[str, int], now: datetime
) -> dict[str, Any]:
    deadline = row.pop("deadline_at")
    finished_at = row.pop("finished_at")
    time_left = None
    if deadline is not None:
        time_left = max(0.0, (deadline - (finished_at or now)).total_seconds())
    beat_ms = state.last_heartbeat_ms
    beat_at = None if beat_ms is None else datetime.fromtimestamp(beat_ms / 1000, now.tzinfo)
    return {
        **row,
        "deadline_at": deadline,
        "time_left_s": time_left,
        "connected": state.sockets > 0,
        "sockets": state.sockets,
        "question": state.question,
        "last_heartbeat_at": beat_at,
        "since_heartbeat_s": None if beat_at is None else max(0.0, (now - beat_at).total_seconds()),
        "flags": {s: counts.get(s, 0) for s in ("info", "warning", "serious")},
    }
