"""Recalibrating an organization's item bank from the answers it collected (a worker job).

Each item with enough responses gets a new parameter version. A version close to the current
one (ICC RMSD below the threshold) becomes current at once; one that drifted is stored as
'proposed' and the item is flagged, so a teacher reviews it (`bank.review_drift`) before the
CAT engine uses it. Runs in a system transaction: a scheduled job acts for no one user.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import numpy as np

from hub.context import Actor, HubContext
from hub.db import Connection
from hub.exams.access import require_staff
from hub.exams.calibration import Calibration, Model, calibrate, drift
from hub.exams.irt import FloatArray

logger = logging.getLogger("dreamseed.exams")

DRIFT_RMSD = 0.1
"""ICC RMSD (θ ~ N(0, 1) weights) above which an item is flagged: PISA's cut-off for misfit."""

# Estimates outside these bounds are clipped: a calibration on a few hundred answers can run
# an item's a or b to the edge of the grid, and the CAT engine must never see that.
_A_RANGE, _B_RANGE, _C_RANGE = (0.2, 4.0), (-5.0, 5.0), (0.0, 0.5)


@dataclass(frozen=True)
class Params:
    a: FloatArray
    b: FloatArray
    c: FloatArray


@dataclass(frozen=True)
class Outcome:
    items: int
    adopted: int
    flagged: int
    skipped: int


_ANSWERS = """
    SELECT w.attempt_id, w.item_id, w.correct FROM answers w
    JOIN attempts t ON t.id = w.attempt_id
    WHERE w.org_id = $1 AND t.status = 'submitted'"""


async def recalibrate_org(
    ctx: HubContext, org_id: UUID, *, min_responses: int = 500, model: Model | None = None
) -> Outcome:
    """Estimate new parameters for the org's items that have at least `min_responses`.

    500 is a floor, not a comfort: with ~300 responses per item, sampling noise alone reaches
    the drift threshold for about one item in a hundred (measured in tests/test_calibration.py's
    recovery runs); flags mean most on items with ~1,000 responses in both calibrations.
    The model is 3PL when any of those items has a guessing parameter, else 2PL (a 2PL fit
    would otherwise read every guessing item as drifted).
    """
    async with ctx.db.system() as conn:
        rows = await conn.fetch(_ANSWERS, org_id)
        guessing = await conn.fetchval(
            "SELECT coalesce(bool_or(c > 0), false) FROM items WHERE org_id = $1", org_id
        )
    counts: dict[UUID, int] = {}
    for r in rows:
        counts[r["item_id"]] = counts.get(r["item_id"], 0) + 1
    items = sorted(i for i, n in counts.items() if n >= min_responses)
    if not items:
        return Outcome(0, 0, 0, len(counts))
    matrix = _matrix(rows, items)
    fit = calibrate(matrix, model or ("3pl" if guessing else "2pl"))
    async with ctx.db.system() as conn:
        adopted, flagged = await _store(conn, items, fit)
    outcome = Outcome(len(items), adopted, flagged, len(counts) - len(items))
    logger.info("recalibrated org %s: %s", org_id, outcome)
    return outcome


def _matrix(rows: list[Any], items: list[UUID]) -> FloatArray:
    """Persons (attempts) × items, NaN where an item was not presented."""
    column = {item: j for j, item in enumerate(items)}
    persons: dict[UUID, int] = {}
    cells: list[tuple[int, int, float]] = []
    for r in rows:
        j = column.get(r["item_id"])
        if j is None:
            continue
        i = persons.setdefault(r["attempt_id"], len(persons))
        cells.append((i, j, 1.0 if r["correct"] else 0.0))
    out: FloatArray = np.full((len(persons), len(items)), np.nan)
    for i, j, v in cells:
        out[i, j] = v
    return out


async def _store(conn: Connection, items: list[UUID], fit: Calibration) -> tuple[int, int]:
    current = {
        r["id"]: r
        for r in await conn.fetch(
            "SELECT id, zone_id, org_id, a, b, c FROM items WHERE id = ANY($1::uuid[]) FOR UPDATE",
            items,
        )
    }
    old = Params(
        np.array([current[i]["a"] for i in items]),
        np.array([current[i]["b"] for i in items]),
        np.array([current[i]["c"] for i in items]),
    )
    new = Params(
        np.clip(np.nan_to_num(fit.a, nan=1.0), *_A_RANGE),
        np.clip(np.nan_to_num(fit.b, nan=0.0), *_B_RANGE),
        np.clip(np.nan_to_num(fit.c, nan=0.0), *_C_RANGE),
    )
    rmsd = drift(old, new)
    adopted = flagged = 0
    for j, item_id in enumerate(items):
        row = current[item_id]
        drifted = bool(rmsd[j] > DRIFT_RMSD)
        version = await conn.fetchval(
            "SELECT coalesce(max(version), 0) + 1 FROM item_parameters WHERE item_id = $1", item_id
        )
        if not drifted:
            await conn.execute(
                "UPDATE item_parameters SET status = 'superseded' "
                "WHERE item_id = $1 AND status = 'current'",
                item_id,
            )
        await conn.execute(
            """INSERT INTO item_parameters (item_id, version, zone_id, org_id, a, b, c, source,
                                            status, n_responses, drift_rmsd)
               VALUES ($1, $2, $3, $4, $5, $6, $7, 'calibration', $8, $9, $10)""",
            item_id,
            version,
            row["zone_id"],
            row["org_id"],
            float(new.a[j]),
            float(new.b[j]),
            float(new.c[j]),
            "proposed" if drifted else "current",
            int(fit.n[j]),
            float(rmsd[j]),
        )
        if drifted:
            flagged += 1
            await conn.execute("UPDATE items SET drift_flagged_at = now() WHERE id = $1", item_id)
        else:
            adopted += 1
            await conn.execute(
                """UPDATE items SET a = $2, b = $3, c = $4, param_version = $5, updated_at = now()
                   WHERE id = $1""",
                item_id,
                float(new.a[j]),
                float(new.b[j]),
                float(new.c[j]),
                version,
            )
    return adopted, flagged


async def orgs_with_new_answers(ctx: HubContext, since_hours: int = 24) -> list[UUID]:
    """Organizations whose students submitted attempts recently: worth recalibrating."""
    async with ctx.db.system() as conn:
        rows = await conn.fetch(
            """SELECT DISTINCT org_id FROM attempts
               WHERE status = 'submitted' AND finished_at > now() - make_interval(hours => $1)""",
            since_hours,
        )
    return [r["org_id"] for r in rows]


async def request_recalibration(ctx: HubContext, actor: Actor, org_id: UUID) -> bool:
    """A teacher asks for a recalibration now; at most one is queued per five minutes."""
    async with ctx.db.acting(actor.user_id) as conn:
        await require_staff(conn, actor, org_id, "recalibrate items")
    window = int(ctx.clock().timestamp() // 300)
    return await ctx.jobs.enqueue(
        "recalibrate_items", str(org_id), job_id=f"recalibrate:{org_id}:{window}"
    )
