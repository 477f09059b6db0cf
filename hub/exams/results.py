"""Results of an exam: staff see every attempt; a student their own; a parent their children's.

Which answers were right is the answer key in another form: a student who has finished could
pass it to a classmate still sitting, or keep it for a retake. So students and parents see the
answer review only once the exam has closed for everyone (`closes_at` passed) or a teacher
released it; until then they see the score. Staff see everything at once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any
from uuid import UUID

from hub.context import Actor, HubContext
from hub.db import Connection
from hub.exams.access import staff_of
from hub.exams.exams import exam_row
from schema.models.exams import ResultsQuery

_RESULTS = """
    SELECT a.id AS attempt_id, a.student_id, u.display_name AS student_name, a.number,
           a.status::text AS status, a.started_at, a.finished_at, a.finished_by, a.answered,
           a.score, a.max_score, a.theta, a.se,
           (SELECT count(*) FROM proctor_events p
            WHERE p.attempt_id = a.id AND p.severity <> 'info')::int AS flags
    FROM attempts a JOIN users u ON u.id = a.student_id
    WHERE a.exam_id = $1 AND ($2::uuid IS NULL OR a.student_id = $2)
      AND ($3 OR a.student_id = $4 OR a.student_id IN (SELECT app_child_ids()))
    ORDER BY u.display_name, a.number"""


async def exam_results(
    ctx: HubContext, actor: Actor, exam_id: UUID, query: ResultsQuery
) -> dict[str, Any]:
    async with ctx.db.acting(actor.user_id) as conn:
        exam = await exam_row(conn, exam_id)
        staff = await staff_of(conn, actor, exam["org_id"])
        rows = [
            dict(r)
            for r in await conn.fetch(_RESULTS, exam_id, query.student_id, staff, actor.user_id)
        ]
        for row in rows:
            if row["status"] == "active" and not staff:
                # The score of an attempt in progress is for the proctor, not for the student.
                row.update(score=0, theta=None, se=None)
        if query.with_answers and rows:
            answers: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
            for a in await conn.fetch(
                """SELECT attempt_id, item_id, position, choice, correct, theta, se, answered_at
                   FROM answers WHERE attempt_id = ANY($1::uuid[]) ORDER BY position""",
                [r["attempt_id"] for r in rows],
            ):
                answers[a["attempt_id"]].append(dict(a))
            released = await review_released(conn, exam, ctx.clock())
            for row in rows:
                if staff or (row["status"] == "submitted" and released):
                    row["answers"] = answers[row["attempt_id"]]
    return {"exam_id": exam_id, "mode": exam["mode"], "attempts": rows}


async def review_released(conn: Connection, exam: dict[str, Any], now: datetime) -> bool:
    """Students may review their answers once the exam has closed or a teacher released the
    review, and nobody can answer it any more (a moved window or a proctor's extension can
    keep someone sitting past `closes_at`)."""
    closed = exam["closes_at"] is not None and now >= exam["closes_at"]
    if not (closed or exam["review_released_at"] is not None):
        return False
    return not await conn.fetchval("SELECT app_exam_still_sat($1, $2)", exam["id"], now)
