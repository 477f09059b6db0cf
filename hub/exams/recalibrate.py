"""Recalibrating an organization's item bank from the answers it collected (a worker job).

Each item with enough responses gets a new parameter version. The calibration's θ scale is
its own sample's (θ ~ N(0, 1) there), so the estimates are first linked onto the bank's
stored scale, with the items themselves as anchors; otherwise a school half an SD above the
authors' population would read as every item drifting, and a smaller shift would be adopted
as a new scale for some items but not others. A linked version close to the current one (ICC
RMSD at most the threshold) becomes current at once; one that drifted is stored as
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
from hub.exams.bank import record_version
from hub.exams.calibration import (
    Calibration,
    ItemParams,
    Model,
    calibrate,
    drift,
    rescale,
    stocking_lord,
)
from hub.exams.irt import FloatArray

logger = logging.getLogger("dreamseed.exams")

DRIFT_RMSD = 0.1
"""ICC RMSD (θ ~ N(0, 1) weights) above which an item is flagged: PISA's cut-off for misfit."""

MIN_ANCHORS = 5
"""Items needed to link a calibration to the stored scale. With fewer (calibrated, or left
after purification) a moved population cannot be told from moved items: nothing is adopted."""

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


def _clipped(cal: Calibration) -> Params:
    return Params(
        np.clip(np.nan_to_num(cal.a, nan=1.0), *_A_RANGE),
        np.clip(np.nan_to_num(cal.b, nan=0.0), *_B_RANGE),
        np.clip(np.nan_to_num(cal.c, nan=0.0), *_C_RANGE),
    )


def link(stored: ItemParams, fit: Calibration) -> tuple[Params, FloatArray, bool]:
    """The estimates on the stored scale, their RMSD from the stored curves, and whether they
    may be adopted without review.

    Stocking–Lord constants from all items; items then more than DRIFT_RMSD from their
    stored curves are dropped as anchors (they moved, and would drag the scale with them) and
    the constants are computed again from the rest. With fewer than MIN_ANCHORS items the
    estimates stay on the sample's own scale; with fewer than MIN_ANCHORS anchors left after
    purification the first constants are kept. Either way every item is only proposed.
    """
    # An item everyone got right (or wrong) can come back with an infinite b: never an anchor.
    finite = np.isfinite(fit.a) & np.isfinite(fit.b) & np.isfinite(fit.c)
    if int(finite.sum()) < MIN_ANCHORS:
        new = _clipped(fit)
        return new, drift(stored, new), False
    new = _clipped(rescale(fit, *stocking_lord(stored, fit, finite)))
    anchors = finite & (drift(stored, new) <= DRIFT_RMSD)
    if int(anchors.sum()) < MIN_ANCHORS:
        return new, drift(stored, new), False
    new = _clipped(rescale(fit, *stocking_lord(stored, fit, anchors)))
    return new, drift(stored, new), True


async def _store(conn: Connection, items: list[UUID], fit: Calibration) -> tuple[int, int]:
    rows = await conn.fetch(
        "SELECT id, a, b, c FROM items WHERE id = ANY($1::uuid[]) FOR UPDATE", items
    )
    current = {r["id"]: r for r in rows}
    stored = Params(*(np.array([current[i][k] for i in items]) for k in "abc"))
    new, rmsd, linked = link(stored, fit)
    if not linked:
        logger.warning(
            "%d items but fewer than %d stable anchors to link on: all proposed",
            len(items),
            MIN_ANCHORS,
        )
    adopted = flagged = 0
    for j, item_id in enumerate(items):
        adopt = linked and bool(rmsd[j] <= DRIFT_RMSD)
        await record_version(
            conn,
            item_id,
            float(new.a[j]),
            float(new.b[j]),
            float(new.c[j]),
            source="calibration",
            status="current" if adopt else "proposed",
            n_responses=int(fit.n[j]),
            drift_rmsd=float(rmsd[j]),
        )
        adopted += adopt
        flagged += not adopt
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
