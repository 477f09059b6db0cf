"""Exams: a teacher assembles items into a fixed form, a timed CBT form, or a CAT pool."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from hub.context import Actor, HubContext
from hub.db import Connection, fetch_returning
from hub.errors import DomainError, ErrorCode, not_found
from hub.exams.access import require_staff, staff_of
from schema.models.exams import CatSettings, ExamCreate, ExamListQuery, ExamUpdate

EXAM_COLUMNS = (
    "e.id, e.org_id, e.zone_id, e.class_id, e.title, e.mode::text AS mode, e.time_limit_s, "
    "e.max_attempts, e.settings, e.opens_at, e.closes_at, e.created_at, "
    "e.item_count, e.review_released_at, e.review_released_at IS NOT NULL AS review_released"
)


async def create_exam(ctx: HubContext, actor: Actor, body: ExamCreate) -> dict[str, Any]:
    async with ctx.db.acting(actor.user_id) as conn:
        await require_staff(conn, actor, body.org_id, "create exams")
        zone_id = await conn.fetchval(
            "SELECT zone_id FROM organizations WHERE id = $1", body.org_id
        )
        if zone_id is None:
            raise not_found("Organization")
        if body.class_id is not None and not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM classes WHERE id = $1 AND org_id = $2)",
            body.class_id,
            body.org_id,
        ):
            raise DomainError(
                ErrorCode.VALIDATION,
                "class_id is not a class of this organization",
                field="class_id",
            )
        await _check_items(conn, body)
        settings = (body.cat or CatSettings()).model_dump() if body.mode == "cat" else {}
        row = await fetch_returning(
            conn,
            """INSERT INTO exams (zone_id, org_id, class_id, created_by, title, mode, time_limit_s,
                                  max_attempts, settings, opens_at, closes_at, item_count)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id""",
            zone_id,
            body.org_id,
            body.class_id,
            actor.user_id,
            body.title,
            body.mode,
            body.time_limit_s,
            body.max_attempts,
            settings,
            body.opens_at,
            body.closes_at,
            len(body.item_ids),
        )
        await conn.executemany(
            """INSERT INTO exam_items (exam_id, item_id, position, zone_id, org_id)
               VALUES ($1, $2, $3, $4, $5)""",
            [(row["id"], item, i, zone_id, body.org_id) for i, item in enumerate(body.item_ids)],
        )
        return await _shaped(conn, row["id"], staff=True)


async def _check_items(conn: Connection, body: ExamCreate) -> None:
    rows = await conn.fetch(
        """SELECT id, content_area FROM items
           WHERE id = ANY($1::uuid[]) AND org_id = $2 AND retired_at IS NULL""",
        body.item_ids,
        body.org_id,
    )
    missing = set(body.item_ids) - {r["id"] for r in rows}
    if missing:
        raise DomainError(
            ErrorCode.VALIDATION,
            f"item_ids: {len(missing)} item(s) are not live items of this organization",
            field="item_ids",
            missing=sorted(str(m) for m in missing)[:20],
        )
    balance = body.cat.content_balance if body.cat else None
    if balance:
        areas = {r["content_area"] for r in rows}
        unknown = set(balance) - areas
        if unknown:
            raise DomainError(
                ErrorCode.VALIDATION,
                f"cat.content_balance names areas no item has: {sorted(unknown)}",
                field="cat.content_balance",
            )


async def exam_row(conn: Connection, exam_id: UUID, *, lock: bool = False) -> dict[str, Any]:
    query = f"SELECT {EXAM_COLUMNS} FROM exams e WHERE e.id = $1"  # noqa: S608
    row = await conn.fetchrow(query + (" FOR UPDATE" if lock else ""), exam_id)
    if row is None:
        raise not_found("Exam")
    return dict(row)


async def _shaped(conn: Connection, exam_id: UUID, staff: bool) -> dict[str, Any]:
    exam = await exam_row(conn, exam_id)
    if staff:
        exam["item_ids"] = [
            r["item_id"]
            for r in await conn.fetch(
                "SELECT item_id FROM exam_items WHERE exam_id = $1 ORDER BY position", exam_id
            )
        ]
        exam["cat"] = exam["settings"] if exam["mode"] == "cat" else None
    return exam


# A class's exam is for its students and their parents (school-wide exams: for everyone).
_SET_FOR_ME = """
    SELECT $1::uuid IS NULL OR EXISTS (
        SELECT 1 FROM class_members m WHERE m.class_id = $1
          AND (m.user_id = $2 OR m.user_id IN (SELECT app_child_ids())))"""


async def get_exam(ctx: HubContext, actor: Actor, exam_id: UUID) -> dict[str, Any]:
    """Staff see the form and its settings; students and parents see the exam's outline."""
    async with ctx.db.acting(actor.user_id) as conn:
        exam = await exam_row(conn, exam_id)
        staff = await staff_of(conn, actor, exam["org_id"])
        if not staff and not await conn.fetchval(_SET_FOR_ME, exam["class_id"], actor.user_id):
            raise not_found("Exam")  # another class's exam, as in the listing
        return await _shaped(conn, exam_id, staff=staff)


async def list_exams(ctx: HubContext, actor: Actor, query: ExamListQuery) -> list[dict[str, Any]]:
    """Exams of my organizations (RLS shows only those) set for me, my class or my children's
    classes (staff see all of their organization's), newest first."""
    async with ctx.db.acting(actor.user_id) as conn:
        rows = await conn.fetch(
            f"""SELECT {EXAM_COLUMNS} FROM exams e
                WHERE ($1::uuid IS NULL OR e.org_id = $1)
                  AND (e.class_id IS NULL OR e.org_id IN (SELECT app_staff_org_ids())
                       OR EXISTS (SELECT 1 FROM class_members m WHERE m.class_id = e.class_id
                                  AND (m.user_id = $2 OR m.user_id IN (SELECT app_child_ids()))))
                ORDER BY e.created_at DESC LIMIT 200""",  # noqa: S608
            query.org_id,
            actor.user_id,
        )
        return [dict(r) for r in rows]


async def update_exam(
    ctx: HubContext, actor: Actor, exam_id: UUID, body: ExamUpdate
) -> dict[str, Any]:
    """Rename, move the window, allow more attempts, release the answer review (staff)."""
    fields = body.model_dump(exclude_unset=True)
    async with ctx.db.acting(actor.user_id) as conn:
        exam = await exam_row(conn, exam_id)
        await require_staff(conn, actor, exam["org_id"], "change exams")
        # Locked and read again (only staff may lock it): two teachers' edits apply in turn,
        # neither undoing the other's window.
        exam = await exam_row(conn, exam_id, lock=True)
        opens = fields.get("opens_at", exam["opens_at"])
        closes = fields.get("closes_at", exam["closes_at"])
        if opens is not None and closes is not None and opens >= closes:
            raise DomainError(
                ErrorCode.VALIDATION, "closes_at must come after opens_at", field="closes_at"
            )
        released = fields.get("review_released")
        await conn.execute(
            """UPDATE exams SET title = coalesce($2, title), opens_at = $3, closes_at = $4,
                      max_attempts = coalesce($5, max_attempts),
                      review_released_at = CASE WHEN $6::boolean IS NULL THEN review_released_at
                                                WHEN $6 THEN coalesce(review_released_at, $7)
                                           END
               WHERE id = $1""",
            exam_id,
            fields.get("title"),
            opens,
            closes,
            fields.get("max_attempts"),
            released,
            ctx.clock(),
        )
        return await _shaped(conn, exam_id, staff=True)


async def delete_exam(ctx: HubContext, actor: Actor, exam_id: UUID) -> None:
    """Delete an exam nobody has started (staff); one with attempts is kept for the record."""
    async with ctx.db.acting(actor.user_id) as conn:
        exam = await exam_row(conn, exam_id)
        await require_staff(conn, actor, exam["org_id"], "delete exams")
        sat = "SELECT EXISTS (SELECT 1 FROM attempts WHERE exam_id = $1)"
        if await conn.fetchval(sat, exam_id):
            raise _kept()
        try:
            await conn.execute("DELETE FROM exams WHERE id = $1", exam_id)
        except asyncpg.ForeignKeyViolationError:
            raise _kept() from None  # a student started it after the check


def _kept() -> DomainError:
    return DomainError(
        ErrorCode.CONFLICT, "Students have sat this exam: it stays, with their results"
    )
