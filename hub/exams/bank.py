"""The item bank: teachers write multiple-choice items with IRT parameters.

Every parameter set is kept as a version (`item_parameters`); the item row holds the current
one. Items used by an exam are retired rather than deleted, so answers keep their item.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hub.context import Actor, HubContext
from hub.db import Connection, fetch_returning
from hub.errors import DomainError, ErrorCode, not_found
from hub.exams.access import require_staff
from schema.models.exams import ItemCreate, ItemListQuery, ItemUpdate

ITEM_COLUMNS = (
    "id, org_id, zone_id, stem, choices, answer, content_area, points, a, b, c, param_version, "
    "drift_flagged_at, created_at, retired_at"
)


async def create_item(ctx: HubContext, actor: Actor, body: ItemCreate) -> dict[str, Any]:
    async with ctx.db.acting(actor.user_id) as conn:
        await require_staff(conn, actor, body.org_id, "write items")
        zone_id = await conn.fetchval(
            "SELECT zone_id FROM organizations WHERE id = $1", body.org_id
        )
        if zone_id is None:
            raise not_found("Organization")
        row = await fetch_returning(
            conn,
            f"""INSERT INTO items (zone_id, org_id, created_by, stem, choices, answer,
                                   content_area, points, a, b, c)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                RETURNING {ITEM_COLUMNS}""",  # noqa: S608 - constant column list
            zone_id,
            body.org_id,
            actor.user_id,
            body.stem,
            body.choices,
            body.answer,
            body.content_area,
            body.points,
            body.params.a,
            body.params.b,
            body.params.c,
        )
        await _record_version(conn, dict(row), 1, "author", "current")
        return dict(row)


async def _record_version(
    conn: Connection, item: dict[str, Any], version: int, source: str, status: str
) -> None:
    await conn.execute(
        """INSERT INTO item_parameters (item_id, version, zone_id, org_id, a, b, c, source, status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        item["id"],
        version,
        item["zone_id"],
        item["org_id"],
        item["a"],
        item["b"],
        item["c"],
        source,
        status,
    )


async def _item_for_staff(conn: Connection, actor: Actor, item_id: UUID, lock: bool) -> Any:
    query = f"SELECT {ITEM_COLUMNS} FROM items WHERE id = $1"  # noqa: S608 - constant columns
    row = await conn.fetchrow(query, item_id)
    if row is None:
        raise not_found("Item")
    await require_staff(conn, actor, row["org_id"], "read or change items")
    # Locked only once the role is known: RLS lets only staff lock an item, so locking first
    # would answer a student of the school "not found" where reading answers "forbidden".
    return await conn.fetchrow(query + " FOR UPDATE", item_id) if lock else row


async def get_item(ctx: HubContext, actor: Actor, item_id: UUID) -> dict[str, Any]:
    async with ctx.db.acting(actor.user_id) as conn:
        return dict(await _item_for_staff(conn, actor, item_id, lock=False))


async def list_items(ctx: HubContext, actor: Actor, query: ItemListQuery) -> list[dict[str, Any]]:
    async with ctx.db.acting(actor.user_id) as conn:
        await require_staff(conn, actor, query.org_id, "read items")
        rows = await conn.fetch(
            f"""SELECT {ITEM_COLUMNS} FROM items
                WHERE org_id = $1 AND retired_at IS NULL
                  AND ($2::text IS NULL OR content_area = $2)
                  AND ($3::boolean IS NULL OR (drift_flagged_at IS NOT NULL) = $3)
                ORDER BY created_at, id LIMIT $4 OFFSET $5""",  # noqa: S608
            query.org_id,
            query.content_area,
            query.flagged,
            query.limit,
            query.offset,
        )
        return [dict(r) for r in rows]


async def update_item(
    ctx: HubContext, actor: Actor, item_id: UUID, body: ItemUpdate
) -> dict[str, Any]:
    """Wording and area change in place; new parameters become a new current version."""
    async with ctx.db.acting(actor.user_id) as conn:
        item = dict(await _item_for_staff(conn, actor, item_id, lock=True))
        if body.choices is not None and len(body.choices) != len(item["choices"]):
            raise DomainError(
                ErrorCode.VALIDATION,
                "choices: the number of choices cannot change (answers refer to them)",
                field="choices",
            )
        version = item["param_version"]
        if body.params is not None:
            version = await _next_version(conn, item_id)
            await conn.execute(
                "UPDATE item_parameters SET status = 'superseded' "
                "WHERE item_id = $1 AND status = 'current'",
                item_id,
            )
            item.update(a=body.params.a, b=body.params.b, c=body.params.c)
            await _record_version(conn, item, version, "author", "current")
        row = await fetch_returning(
            conn,
            f"""UPDATE items SET stem = coalesce($2, stem), choices = coalesce($3, choices),
                       content_area = coalesce($4, content_area), a = $5, b = $6, c = $7,
                       param_version = $8, updated_at = now()
                WHERE id = $1 RETURNING {ITEM_COLUMNS}""",  # noqa: S608
            item_id,
            body.stem,
            body.choices,
            body.content_area,
            item["a"],
            item["b"],
            item["c"],
            version,
        )
        return dict(row)


async def retire_item(ctx: HubContext, actor: Actor, item_id: UUID) -> None:
    """Remove an item from the bank; exams that use it keep it (and its answers)."""
    async with ctx.db.acting(actor.user_id) as conn:
        await _item_for_staff(conn, actor, item_id, lock=True)
        await conn.execute(
            "UPDATE items SET retired_at = now() WHERE id = $1 AND retired_at IS NULL", item_id
        )


async def _next_version(conn: Connection, item_id: UUID) -> int:
    value = await conn.fetchval(
        "SELECT coalesce(max(version), 0) + 1 FROM item_parameters WHERE item_id = $1", item_id
    )
    return int(value)


async def parameter_history(ctx: HubContext, actor: Actor, item_id: UUID) -> dict[str, Any]:
    async with ctx.db.acting(actor.user_id) as conn:
        item = await _item_for_staff(conn, actor, item_id, lock=False)
        rows = await conn.fetch(
            """SELECT version, a, b, c, source, status, n_responses, drift_rmsd, created_at,
                      reviewed_at
               FROM item_parameters WHERE item_id = $1 ORDER BY version""",
            item_id,
        )
        return {
            "item_id": item_id,
            "current_version": item["param_version"],
            "versions": [dict(r) for r in rows],
        }


async def review_drift(
    ctx: HubContext, actor: Actor, item_id: UUID, version: int, accept: bool
) -> dict[str, Any]:
    """A teacher decides on a proposed (drifted) parameter set: adopt it or keep the old one."""
    async with ctx.db.acting(actor.user_id) as conn:
        item = dict(await _item_for_staff(conn, actor, item_id, lock=True))
        proposed = await conn.fetchrow(
            "SELECT a, b, c FROM item_parameters "
            "WHERE item_id = $1 AND version = $2 AND status = 'proposed' FOR UPDATE",
            item_id,
            version,
        )
        if proposed is None:
            raise DomainError(
                ErrorCode.CONFLICT, f"Version {version} of this item is not awaiting review"
            )
        if accept:
            await conn.execute(
                "UPDATE item_parameters SET status = 'superseded' "
                "WHERE item_id = $1 AND status = 'current'",
                item_id,
            )
        await conn.execute(
            """UPDATE item_parameters SET status = $3, reviewed_by = $4, reviewed_at = now()
               WHERE item_id = $1 AND version = $2""",
            item_id,
            version,
            "current" if accept else "rejected",
            actor.user_id,
        )
        still_open = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM item_parameters WHERE item_id = $1 "
            "AND status = 'proposed')",
            item_id,
        )
        new = proposed if accept else item
        row = await fetch_returning(
            conn,
            f"""UPDATE items SET a = $2, b = $3, c = $4, param_version = $5,
                       drift_flagged_at = CASE WHEN $6 THEN drift_flagged_at END,
                       updated_at = now()
                WHERE id = $1 RETURNING {ITEM_COLUMNS}""",  # noqa: S608
            item_id,
            new["a"],
            new["b"],
            new["c"],
            version if accept else item["param_version"],
            still_open,
        )
        return dict(row)
