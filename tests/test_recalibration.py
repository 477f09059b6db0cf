"""Recalibration job: answers collected in PostgreSQL become new parameter versions; drifted
items are proposed for review instead of being used."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import numpy as np

from hub.clock import utc_now
from hub.context import HubContext
from hub.exams.irt import prob
from tests.exam_support import make_exam, make_items, school
from tests.support import Factory
from workers.exam_jobs import recalibrate_items

TRUE_A = np.array([0.8, 1.0, 1.2, 0.9, 1.1, 1.0, 0.7, 1.3])
TRUE_B = np.array([-1.5, -1.0, -0.5, 0.0, 0.3, 0.6, 1.0, 1.5])


async def _collect_answers(
    factory: Factory,
    exam: dict[str, Any],
    items: list[dict[str, Any]],
    student_id: UUID,
    persons: int,
) -> None:
    """`persons` submitted attempts answering every item, drawn from the true 2PL model."""
    rng = np.random.default_rng(11)
    theta = rng.normal(size=persons)
    p = prob(theta[:, None], TRUE_A[None, :], TRUE_B[None, :])
    correct = rng.random(p.shape) < p
    exam_row = (await factory.fetch("SELECT zone_id, org_id FROM exams WHERE id = $1", exam["id"]))[
        0
    ]
    now = utc_now()
    conn_rows = await factory.fetch(
        """INSERT INTO attempts (number, exam_id, zone_id, org_id, student_id, started_at,
                                 status, finished_at, finished_by)
           SELECT n, $1::uuid, $2::uuid, $3::uuid, $4::uuid, $5::timestamptz, 'submitted',
                  $5::timestamptz + interval '10 minutes', 'student'
           FROM generate_series(1, $6::int) AS n RETURNING id, number""",
        exam["id"],
        exam_row["zone_id"],
        exam_row["org_id"],
        student_id,
        now - timedelta(hours=1),
        persons,
    )
    by_number = {r["number"]: r["id"] for r in conn_rows}
    values = [
        (by_number[i + 1], items[j]["id"], j, correct[i, j])
        for i in range(persons)
        for j in range(len(items))
    ]
    await factory.fetch(
        """INSERT INTO answers (attempt_id, item_id, position, zone_id, org_id, student_id,
                                choice, correct, answered_at)
           SELECT v.attempt_id, v.item_id, v.position, $2::uuid, $3::uuid, $4::uuid,
                  CASE WHEN v.correct THEN 1 ELSE 0 END, v.correct, now()
           FROM unnest($1::uuid[], $5::uuid[], $6::int[], $7::boolean[])
                AS v(attempt_id, item_id, position, correct)""",
        [v[0] for v in values],
        exam_row["zone_id"],
        exam_row["org_id"],
        student_id,
        [v[1] for v in values],
        [v[2] for v in values],
        [bool(v[3]) for v in values],
    )


async def test_recalibration_adopts_close_and_flags_drifted(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """Items whose stored values match the data get a new current version; the one whose
    difficulty moved by 1.2 is proposed and flagged, and keeps its old values until reviewed."""
    s = await school(factory, students=1)
    stored = [{"a": float(a), "b": float(b), "c": 0.0} for a, b in zip(TRUE_A, TRUE_B, strict=True)]
    stored[3]["b"] = float(TRUE_B[3]) - 1.2  # the bank says easier than the data shows
    items = await make_items(api, s.teacher, s.org, len(stored), params=stored)
    exam = await make_exam(api, s.teacher, s.org, items, "fixed")
    await _collect_answers(factory, exam, items, s.students[0].id, persons=1500)

    outcome = await recalibrate_items({"hub": hub_ctx}, str(s.org.id))

    assert outcome == {"items": 8, "adopted": 7, "flagged": 1, "skipped": 0}
    drifted = items[3]["id"]
    rows = await factory.fetch(
        "SELECT item_id, version, status, b, n_responses, drift_rmsd FROM item_parameters "
        "WHERE source = 'calibration'"
    )
    by_item = {str(r["item_id"]): r for r in rows}
    assert by_item[drifted]["status"] == "proposed" and by_item[drifted]["drift_rmsd"] > 0.1
    assert abs(by_item[drifted]["b"] - TRUE_B[3]) < 0.3
    assert all(r["n_responses"] == 1500 and r["version"] == 2 for r in rows)
    assert {r["status"] for i, r in by_item.items() if i != drifted} == {"current"}
    item = await api.get(f"/items/{drifted}", headers=s.teacher.headers)
    assert item.json()["drift_flagged_at"] is not None
    assert item.json()["b"] == stored[3]["b"] and item.json()["param_version"] == 1
    flagged = await api.get(
        "/items", params={"org_id": str(s.org.id), "flagged": "true"}, headers=s.teacher.headers
    )
    assert [i["id"] for i in flagged.json()["items"]] == [drifted]

    review = await api.post(
        f"/items/{drifted}/parameters/review",
        json={"version": 2, "accept": True},
        headers=s.teacher.headers,
    )
    assert review.status_code == 200, review.text
    assert review.json()["param_version"] == 2 and review.json()["drift_flagged_at"] is None


async def test_recalibration_skips_thin_items(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """Items with fewer responses than the minimum keep their parameters untouched."""
    s = await school(factory, students=1)
    items = await make_items(api, s.teacher, s.org, len(TRUE_A))
    exam = await make_exam(api, s.teacher, s.org, items, "fixed")
    await _collect_answers(factory, exam, items, s.students[0].id, persons=50)
    outcome = await recalibrate_items({"hub": hub_ctx}, str(s.org.id))
    assert outcome == {"items": 0, "adopted": 0, "flagged": 0, "skipped": 8}
    assert (
        await factory.fetchval("SELECT count(*) FROM item_parameters WHERE source = 'calibration'")
        == 0
    )


async def test_teacher_queues_recalibration(api: httpx.AsyncClient, factory: Factory) -> None:
    """A teacher's request queues one job per five minutes; a student may not ask."""
    s = await school(factory, students=1)
    body = {"org_id": str(s.org.id)}
    first = await api.post("/items/recalibrate", json=body, headers=s.teacher.headers)
    assert first.status_code == 202 and first.json() == {"queued": True}
    again = await api.post("/items/recalibrate", json=body, headers=s.teacher.headers)
    assert again.json() == {"queued": False}
    refused = await api.post("/items/recalibrate", json=body, headers=s.students[0].headers)
    assert refused.status_code == 403
