"""How an attempt looks to its student: time left and what to answer next, never a key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from hub.db import Connection

ATTEMPT_COLUMNS = (
    "a.id, a.exam_id, a.zone_id, a.org_id, a.student_id, a.number, a.status::text AS status, "
    "a.started_at, a.deadline_at, a.finished_at, a.finished_by, a.pending_item, a.answered, "
    "a.score, a.max_score, a.theta, a.se"
)
# The names ATTEMPT_COLUMNS come back under, to pick an attempt out of a wider row.
ATTEMPT_KEYS = tuple(c.split(" AS ")[-1].removeprefix("a.") for c in ATTEMPT_COLUMNS.split(", "))

_QUESTION = "i.id AS item_id, x.position, i.stem, i.choices, i.content_area"

# The one question a CBT or CAT attempt shows next, as the answer's write reads it along
# (hub/exams/attempts.py): `i` is the item, joined under these names; see `next_question`.
NEXT_QUESTION_COLUMNS = (
    "i.id AS q_item_id, i.stem AS q_stem, i.choices AS q_choices, i.content_area AS q_content_area"
)


async def questions_for(
    conn: Connection, attempt: dict[str, Any], exam: dict[str, Any]
) -> list[dict[str, Any]]:
    """Fixed: every unanswered question; CBT: the next in order; CAT: the engine's pick."""
    if attempt["status"] != "active":
        return []
    mode = exam["mode"]
    if mode == "fixed":
        sql = f"""SELECT {_QUESTION} FROM exam_items x JOIN items i ON i.id = x.item_id
                  WHERE x.exam_id = $1 AND NOT EXISTS (
                      SELECT 1 FROM answers w WHERE w.attempt_id = $2 AND w.item_id = i.id)
                  ORDER BY x.position"""  # noqa: S608 - constant column list
        rows = await conn.fetch(sql, exam["id"], attempt["id"])
    elif mode == "cbt":
        sql = f"""SELECT {_QUESTION} FROM exam_items x JOIN items i ON i.id = x.item_id
                  WHERE x.exam_id = $1 AND x.position = $2"""  # noqa: S608
        rows = await conn.fetch(sql, exam["id"], attempt["answered"])
    else:
        if attempt["pending_item"] is None:
            return []
        sql = f"""SELECT {_QUESTION} FROM exam_items x JOIN items i ON i.id = x.item_id
                  WHERE x.exam_id = $1 AND x.item_id = $2"""  # noqa: S608
        rows = await conn.fetch(sql, exam["id"], attempt["pending_item"])
        # A CAT question's number is its place in the attempt, not in the pool.
        return [{**dict(r), "position": attempt["answered"]} for r in rows]
    return [dict(r) for r in rows]


def next_question(row: asyncpg.Record, attempt: dict[str, Any]) -> list[dict[str, Any]]:
    """The question read with NEXT_QUESTION_COLUMNS, shaped as `questions_for` shapes it: its
    number is the attempt's next place (for CBT that is also its place in the form)."""
    if row["q_item_id"] is None:
        return []
    return [
        {
            "item_id": row["q_item_id"],
            "position": attempt["answered"],
            "stem": row["q_stem"],
            "choices": row["q_choices"],
            "content_area": row["q_content_area"],
        }
    ]


async def attempt_view(
    conn: Connection,
    attempt: dict[str, Any],
    exam: dict[str, Any],
    now: datetime,
    questions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`questions`: already read (only used while the attempt is active); else queried."""
    deadline = attempt["deadline_at"]
    time_left = None
    if deadline is not None:
        end = attempt["finished_at"] or now
        time_left = max(0.0, (deadline - end).total_seconds())
    done = attempt["status"] == "submitted"
    if questions is None or attempt["status"] != "active":
        questions = await questions_for(conn, attempt, exam)
    return {
        "id": attempt["id"],
        "exam_id": attempt["exam_id"],
        "mode": exam["mode"],
        "number": attempt["number"],
        "status": attempt["status"],
        "started_at": attempt["started_at"],
        "deadline_at": deadline,
        "time_left_s": time_left,
        "finished_at": attempt["finished_at"],
        "finished_by": attempt["finished_by"],
        "answered": attempt["answered"],
        "item_count": exam["item_count"],
        "questions": questions,
        "score": attempt["score"] if done else None,
        "max_score": attempt["max_score"] if done else None,
        "theta": attempt["theta"] if done else None,
        "se": attempt["se"] if done else None,
    }
