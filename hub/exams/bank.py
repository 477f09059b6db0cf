"""The item bank: teachers write multiple-choice items with IRT parameters.

Every parameter set is kept as a version (`item_parameters`); the item row holds the current
one. Items used by an exam are retired rather than deleted, so answers keep their item.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from hub.context import Actor, HubContext
from hub.db import Connection, fetch_returning
from hub.errors import DomainError, ErrorCode, not_found
from hub.exams.access import require_staff
from schema.models.exams import ItemCreate, ItemListQuery, ItemUpdate

Source = Literal["author", "calibration"]
NewStatus = Literal["current", "proposed"]

# The key through app_item_key(): the application role cannot read items.answer itself
# (migration 0012); staff get it, students get NULL.
ITEM_COLUMNS = (
    "id, org_id, zone_id, stem, choices, app_item_key(id) AS answer, content_area, points, "
    "a, b, c, param_version, drift_flagged_at, created_at, retired_at"
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
        await record_version(
            conn, row["id"], row["a"], row["b"], row["c"], source="author", status="current"
        )
        return dict(row)


async def record_version(
    conn: Connection,
    item_id: UUID,
    a: float,
    b: float,
    c: float,
    *,
    source: Source,
    status: NewStatus,
    n_responses: int = 0,
    drift_rmsd: float | None = None,
) -> int:
    """Store the item's next parameter version and return its number.

    A 'current' one becomes the item's parameters at once (:func:`make_current`); a 'proposed'
    one flags the item for review. The caller holds the item's row lock.
    """
    row = await fetch_returning(
        conn,
        """INSERT INTO item_parameters (item_id, version, zone_id, org_id, a, b, c, source,
                                        status, n_responses, drift_rmsd)
           SELECT i.id, coalesce((SELECT max(version) FROM item_parameters WHERE item_id = i.id),
                                 0) + 1,
                  i.zone_id, i.org_id, $2, $3, $4, $5, $6, $7, $8
           FROM items i WHERE i.id = $1
           RETURNING version""",
        item_id,
        a,
        b,
        c,
        source,
        status,
        n_responses,
        drift_rmsd,
    )
    version: int = row["version"]
    if status == "current":
        await make_current(conn, item_id, version)
    else:
        await conn.execute("UPDATE items SET drift_flagged_at = now() WHERE id = $1", item_id)
    return version


async def make_current(conn: Connection, item_id: UUID, version: int) -> None:
    """Make a stored parameter version the one the item (and so the CAT engine) uses.

    The version it replaces is superseded, and so is every older proposal: accepting one later
    would put stale values over these. The drift flag goes once no proposal is left.
    """
    await conn.execute(
        """UPDATE item_parameters
           SET status = CASE WHEN version = $2 THEN 'current' ELSE 'superseded' END
           WHERE item_id = $1
             AND (version = $2 OR status = 'current' OR (status = 'proposed' AND version < $2))""",
        item_id,
        version,
    )
    done = await conn.execute(
        """UPDATE items i SET a = p.a, b = p.b, c = p.c, param_version = p.version,
                  updated_at = now()
           FROM item_parameters p WHERE i.id = $1 AND p.item_id = $1 AND p.version = $2""",
        item_id,
        version,
    )
    assert done == "UPDATE 1", f"item {item_id} has no version {version}"  # noqa: S101
    await _settle_flag(conn, item_id)


async def _settle_flag(conn: Connection, item_id: UUID) -> None:
    await conn.execute(
        """UPDATE items SET drift_flagged_at = NULL
           WHERE id = $1 AND drift_flagged_at IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM item_parameters WHERE item_id = $1 AND status = 'proposed')""",
        item_id,
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
        if body.params is not None:
            p = body.params
            await record_version(conn, item_id, p.a, p.b, p.c, source="author", status="current")
        row = await fetch_returning(
            conn,
            f"""UPDATE items SET stem = coalesce($2, stem), choices = coalesce($3, choices),
                       content_area = coalesce($4, content_area), updated_at = now()
                WHERE id = $1 RETURNING {ITEM_COLUMNS}""",  # noqa: S608
            item_id,
            body.stem,
            body.choices,
            body.content_area,
        )
        return dict(row)


async def retire_item(ctx: HubContext, actor: Actor, item_id: UUID) -> None:
    """Remove an item from the bank; exams that use it keep it (and its answers)."""
    async with ctx.db.acting(actor.user_id) as conn:
        await _item_for_staff(conn, actor, item_id, lock=True)
        await conn.execute(
            "UPDATE items SET retired_at = now() WHERE id = $1 AND retired_at IS NULL", item_id
        )


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
    """A teacher decides on a proposed (drifted) parameter set: adopt it or keep the old one.

    Only a proposal newer than the item's current version is open to review: accepting an
    older one would replace newer parameters with staler ones.
    """
    async with ctx.db.acting(actor.user_id) as conn:
        item = await _item_for_staff(conn, actor, item_id, lock=True)
        status = await conn.fetchval(
            "SELECT status FROM item_parameters WHERE item_id = $1 AND version = $2 FOR UPDATE",
            item_id,
            version,
        )
        if status != "proposed":
            raise DomainError(
                ErrorCode.CONFLICT, f"Version {version} of this item is not awaiting review"
            )
        if version < item["param_version"]:
            raise DomainError(
                ErrorCode.CONFLICT,
                f"Version {version} is older than the item's current version "
                f"{item['param_version']}, so it can no longer be reviewed",
            )
        await conn.execute(
            """UPDATE item_parameters SET status = $3, reviewed_by = $4, reviewed_at = now()
               WHERE item_id = $1 AND version = $2""",
            item_id,
            version,
            "current" if accept else "rejected",
            actor.user_id,
        )
        if accept:
            await make_current(conn, item_id, version)
        else:
            await _settle_flag(conn, item_id)
        query = f"SELECT {ITEM_COLUMNS} FROM items WHERE id = $1"  # noqa: S608 - constant columns
        return dict(await fetch_returning(conn, query, item_id))
