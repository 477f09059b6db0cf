"""Dashboards: a teacher's statistics of their exams, a student's results and θ over time, a
parent's view of their linked children.

Statistics are SQL aggregates. Scores, θ and item statistics count submitted attempts only:
an attempt in progress has a partial score, and its student must not see it anyway.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from hub.accounts.roles import Roles, load_roles
from hub.context import Actor, HubContext
from hub.db import Connection
from hub.errors import forbidden, not_found
from hub.exams.access import STAFF_ROLES, is_staff
from schema.models.dashboards import TeacherDashboardQuery

BUCKETS = 10

_EXAMS = """
    WITH chosen AS (
        SELECT id FROM exams
        WHERE org_id = ANY($1::uuid[]) AND ($2::uuid IS NULL OR id = $2)
        ORDER BY created_at DESC, id LIMIT $3
    )
    SELECT e.id AS exam_id, e.org_id, e.class_id, e.title, e.mode::text AS mode, e.created_at,
           e.item_count,
           count(a.id)::int AS started,
           (count(a.id) FILTER (WHERE a.status = 'submitted'))::int AS submitted,
           (count(a.id) FILTER (WHERE a.status = 'active'))::int AS active,
           count(DISTINCT a.student_id)::int AS students,
           (avg(a.score) FILTER (WHERE a.status = 'submitted'))::float8 AS mean_score,
           avg(a.score::float8 / a.max_score)
               FILTER (WHERE a.status = 'submitted' AND a.max_score > 0) AS mean_ratio,
           avg(a.theta) FILTER (WHERE a.status = 'submitted') AS mean_theta,
           avg(a.se) FILTER (WHERE a.status = 'submitted') AS mean_se,
           (avg(a.answered) FILTER (WHERE a.status = 'submitted'))::float8 AS mean_length
    FROM chosen JOIN exams e ON e.id = chosen.id
    LEFT JOIN attempts a ON a.exam_id = e.id
    GROUP BY e.id
    ORDER BY e.created_at DESC, e.id"""

# Submitted attempts per (exam, score, tenth of the maximum); the last tenth includes 1.
_SCORES = f"""
    SELECT exam_id, score,
           least(floor({BUCKETS} * score::float8 / max_score), {BUCKETS - 1})::int AS bucket,
           count(*)::int AS n
    FROM attempts
    WHERE exam_id = ANY($1::uuid[]) AND status = 'submitted' AND max_score > 0
    GROUP BY exam_id, score, bucket"""  # noqa: S608 - constants

# Per item of each form (or CAT pool): answers of submitted attempts, proportion correct, and
# the point-biserial correlation (Pearson's r of the 0/1 item with the total score).
_ITEMS = """
    WITH totals AS (
        SELECT id, exam_id, score::float8 AS total FROM attempts
        WHERE exam_id = ANY($1::uuid[]) AND status = 'submitted'
    )
    SELECT x.exam_id, x.item_id, x.position, i.content_area, i.a, i.b, i.c, i.param_version,
           i.drift_flagged_at IS NOT NULL AS drift_flagged,
           count(w.attempt_id)::int AS answered,
           (count(w.attempt_id) FILTER (WHERE w.correct))::int AS correct,
           avg(w.correct::int)::float8 AS p_value,
           CASE WHEN e.mode = 'cat' THEN NULL
                ELSE corr(w.correct::int::float8, t.total) END AS point_biserial
    FROM exam_items x
    JOIN exams e ON e.id = x.exam_id
    JOIN items i ON i.id = x.item_id
    LEFT JOIN (answers w JOIN totals t ON t.id = w.attempt_id)
           ON w.item_id = x.item_id AND t.exam_id = x.exam_id
    WHERE x.exam_id = ANY($1::uuid[])
    GROUP BY x.exam_id, x.item_id, x.position, i.id, e.id
    ORDER BY x.exam_id, x.position"""


async def teacher_dashboard(
    ctx: HubContext, actor: Actor, query: TeacherDashboardQuery
) -> dict[str, Any]:
    """Per exam of the caller's organizations: attempts, score distribution, item statistics."""
    async with ctx.db.acting(actor.user_id) as conn:
        org_ids = _staff_orgs(await load_roles(conn, actor.user_id), query.org_id)
        exams = [dict(r) for r in await conn.fetch(_EXAMS, org_ids, query.exam_id, query.limit)]
        if query.exam_id is not None and not exams:
            raise not_found("Exam")
        ids = [e["exam_id"] for e in exams]
        scores = await conn.fetch(_SCORES, ids)
        items = await conn.fetch(_ITEMS, ids)
    items_of: dict[UUID, list[dict[str, Any]]] = {i: [] for i in ids}
    for item in items:
        items_of[item["exam_id"]].append(dict(item))
    scores_of: dict[UUID, list[Any]] = {i: [] for i in ids}
    for score in scores:
        scores_of[score["exam_id"]].append(score)
    for exam in exams:
        exam["attempts"] = {k: exam[k] for k in ("started", "submitted", "active")}
        exam["distribution"], exam["score_counts"] = _distribution(
            scores_of[exam["exam_id"]], per_score=exam["mode"] != "cat"
        )
        exam["items"] = items_of[exam["exam_id"]]
    return {"exams": exams}


def _staff_orgs(roles: Roles, org_id: UUID | None) -> list[UUID]:
    if org_id is not None:
        if not is_staff(roles, org_id):
            raise forbidden("Only teachers of this organization may see its dashboard")
        return [org_id]
    orgs = sorted(o for o, held in roles.org_roles.items() if held & STAFF_ROLES)
    if not orgs:
        raise forbidden("The teacher dashboard is for teachers and organization admins")
    return orgs


def _distribution(
    rows: list[Any], per_score: bool
) -> tuple[list[dict[str, Any]], list[dict[str, int]]]:
    """Tenths of the maximum score, and (fixed, CBT) counts per score, from grouped rows."""
    buckets = [0] * BUCKETS
    counts: dict[int, int] = {}
    for row in rows:
        buckets[row["bucket"]] += row["n"]
        counts[row["score"]] = counts.get(row["score"], 0) + row["n"]
    distribution = [
        {"lower": i / BUCKETS, "upper": (i + 1) / BUCKETS, "count": n}
        for i, n in enumerate(buckets)
    ]
    score_counts = (
        [{"score": s, "count": n} for s, n in sorted(counts.items())] if per_score else []
    )
    return distribution, score_counts


# A student's attempts, newest first (at most 200 each); results only once submitted. The CAT
# trajectory (θ after each answer) shows which answers were right, so like the answer review
# in results.py it waits until the exam has closed for everyone (see `review_released`).
_ATTEMPTS = """
    SELECT s.id AS student_id, r.*
    FROM unnest($1::uuid[]) AS s(id)
    CROSS JOIN LATERAL (
        SELECT a.id AS attempt_id, a.exam_id, e.title AS exam_title, e.mode::text AS mode,
               a.number, a.status::text AS status, a.started_at, a.finished_at, a.finished_by,
               a.answered,
               CASE WHEN a.status = 'submitted' THEN a.score END AS score,
               CASE WHEN a.status = 'submitted' THEN a.max_score END AS max_score,
               CASE WHEN a.status = 'submitted' THEN a.theta END AS theta,
               CASE WHEN a.status = 'submitted' THEN a.se END AS se,
               CASE WHEN a.status = 'submitted' AND e.mode = 'cat'
                         AND (e.closes_at <= $2 OR e.review_released_at IS NOT NULL)
                         AND NOT app_exam_still_sat(e.id, $2)
                    THEN coalesce((
                   SELECT jsonb_agg(jsonb_build_object('position', w.position,
                                                       'theta', w.theta, 'se', w.se,
                                                       'answered_at', w.answered_at)
                                    ORDER BY w.position)
                   FROM answers w WHERE w.attempt_id = a.id AND w.theta IS NOT NULL), '[]')
               ELSE '[]' END AS trajectory
        FROM attempts a JOIN exams e ON e.id = a.exam_id
        WHERE a.student_id = s.id
        ORDER BY a.started_at DESC, a.id LIMIT 200
    ) r
    ORDER BY s.id, r.started_at DESC, r.attempt_id"""


async def _results_of(
    conn: Connection, student_ids: list[UUID], now: datetime
) -> dict[UUID, dict[str, Any]]:
    boards: dict[UUID, dict[str, Any]] = {
        s: {"student_id": s, "attempts": [], "theta_history": []} for s in student_ids
    }
    for row in await conn.fetch(_ATTEMPTS, student_ids, now):
        boards[row["student_id"]]["attempts"].append(dict(row))
    for board in boards.values():
        finished = [a for a in board["attempts"] if a["mode"] == "cat" and a["theta"] is not None]
        board["theta_history"] = sorted(finished, key=lambda a: a["finished_at"])
    return boards


async def student_dashboard(ctx: HubContext, actor: Actor) -> dict[str, Any]:
    """My attempts with their results, and my θ over time (per CAT attempt and per answer)."""
    async with ctx.db.acting(actor.user_id) as conn:
        return (await _results_of(conn, [actor.user_id], ctx.clock()))[actor.user_id]


async def parent_dashboard(ctx: HubContext, actor: Actor) -> dict[str, Any]:
    """The results of each child whose link the caller holds (approved); no link: no child."""
    async with ctx.db.acting(actor.user_id) as conn:
        children = await conn.fetch(
            """SELECT l.student_id, u.display_name FROM parent_links l
               JOIN users u ON u.id = l.student_id
               WHERE l.parent_id = $1 AND l.status = 'approved'
               ORDER BY u.display_name, l.student_id""",
            actor.user_id,
        )
        boards = await _results_of(conn, [c["student_id"] for c in children], ctx.clock())
    return {
        "children": [
            {**boards[c["student_id"]], "display_name": c["display_name"]} for c in children
        ]
    }
