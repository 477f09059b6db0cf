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
from hub.exams.calibration import Calibration
from hub.exams.irt import prob
from hub.exams.recalibrate import Params, link
from tests.exam_support import School, make_exam, make_items, school
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
    theta_mean: float = 0.0,
    theta_sd: float = 1.0,
) -> None:
    """`persons` submitted attempts answering every item, drawn from the true 2PL model."""
    rng = np.random.default_rng(11)
    theta = rng.normal(theta_mean, theta_sd, size=persons)
    k = len(items)
    p = prob(theta[:, None], TRUE_A[None, :k], TRUE_B[None, :k])
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


async def _calibrated(factory: Factory) -> dict[str, Any]:
    rows = await factory.fetch(
        "SELECT item_id, version, status, a, b, drift_rmsd FROM item_parameters "
        "WHERE source = 'calibration'"
    )
    return {str(r["item_id"]): r for r in rows}


async def _shifted_school(
    api: httpx.AsyncClient, factory: Factory, stored: list[dict[str, float]]
) -> tuple[School, list[dict[str, Any]]]:
    """A school whose 1,500 students sit at θ ~ N(0.5, 1.2) on the bank's stored scale."""
    s = await school(factory, students=1)
    items = await make_items(api, s.teacher, s.org, len(stored), params=stored)
    exam = await make_exam(api, s.teacher, s.org, items, "fixed")
    await _collect_answers(factory, exam, items, s.students[0].id, 1500, 0.5, 1.2)
    return s, items


async def test_abler_population_is_linked_not_flagged(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """Students 0.5 SD above the bank's scale flag nothing: adopted values stay on that scale,
    and an older open proposal is superseded by the newer current version."""
    stored = [{"a": float(a), "b": float(b), "c": 0.0} for a, b in zip(TRUE_A, TRUE_B, strict=True)]
    s, items = await _shifted_school(api, factory, stored)
    await factory.fetch(
        """INSERT INTO item_parameters (item_id, version, zone_id, org_id, a, b, c, source,
                                        status)
           SELECT id, 2, zone_id, org_id, 2.0, 1.0, 0.0, 'calibration', 'proposed'
           FROM items WHERE id = $1::uuid""",
        items[0]["id"],
    )
    await factory.fetch(
        "UPDATE items SET drift_flagged_at = now() WHERE id = $1::uuid", items[0]["id"]
    )

    outcome = await recalibrate_items({"hub": hub_ctx}, str(s.org.id))

    assert outcome == {"items": 8, "adopted": 8, "flagged": 0, "skipped": 0}
    by_item = await _calibrated(factory)
    new = [by_item[i["id"]] for i in items if by_item[i["id"]]["status"] == "current"]
    assert len(new) == 8
    assert max(r["drift_rmsd"] for r in new) < 0.06
    np.testing.assert_allclose([r["b"] for r in new], TRUE_B, atol=0.25)
    np.testing.assert_allclose([r["a"] for r in new], TRUE_A, rtol=0.3)
    stale = await factory.fetchval(
        "SELECT status FROM item_parameters WHERE item_id = $1::uuid AND version = 2",
        items[0]["id"],
    )
    assert stale == "superseded"
    flagged = await api.get(
        "/items", params={"org_id": str(s.org.id), "flagged": "true"}, headers=s.teacher.headers
    )
    assert flagged.json()["items"] == []


async def test_drifted_item_is_flagged_in_an_abler_population(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """After linking a shifted population, the one item that truly moved is still flagged,
    with its proposed difficulty on the stored scale."""
    stored = [{"a": float(a), "b": float(b), "c": 0.0} for a, b in zip(TRUE_A, TRUE_B, strict=True)]
    stored[3]["b"] = float(TRUE_B[3]) - 1.2
    s, items = await _shifted_school(api, factory, stored)

    outcome = await recalibrate_items({"hub": hub_ctx}, str(s.org.id))

    assert outcome == {"items": 8, "adopted": 7, "flagged": 1, "skipped": 0}
    by_item = await _calibrated(factory)
    drifted = by_item[items[3]["id"]]
    assert drifted["status"] == "proposed" and drifted["drift_rmsd"] > 0.1
    assert abs(drifted["b"] - TRUE_B[3]) < 0.3
    others = [by_item[i["id"]] for k, i in enumerate(items) if k != 3]
    assert {r["status"] for r in others} == {"current"}
    np.testing.assert_allclose([r["b"] for r in others], np.delete(TRUE_B, 3), atol=0.25)


async def test_too_few_items_to_link_are_only_proposed(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """With fewer than five calibrated items nothing is adopted: every item is proposed."""
    s = await school(factory, students=1)
    stored = [{"a": float(a), "b": float(b), "c": 0.0} for a, b in zip(TRUE_A, TRUE_B, strict=True)]
    items = await make_items(api, s.teacher, s.org, 4, params=stored[:4])
    exam = await make_exam(api, s.teacher, s.org, items, "fixed")
    await _collect_answers(factory, exam, items, s.students[0].id, persons=600)

    outcome = await recalibrate_items({"hub": hub_ctx}, str(s.org.id))

    assert outcome == {"items": 4, "adopted": 0, "flagged": 4, "skipped": 0}
    assert {r["status"] for r in (await _calibrated(factory)).values()} == {"proposed"}
    current = await factory.fetchval("SELECT count(*) FROM items WHERE param_version = 1")
    assert current == 4


def test_link_adopts_nothing_when_most_items_moved() -> None:
    """When purification leaves fewer than five anchors, the linking is not trusted."""
    stored = Params(TRUE_A, TRUE_B, np.zeros(8))
    moved = np.where(np.arange(8) < 4, TRUE_B + 1.5, TRUE_B)
    fit = Calibration("2pl", TRUE_A, moved, np.zeros(8), np.full(8, 900), True, 10, 0.0)
    assert link(stored, fit)[2] is False
    same = Calibration("2pl", TRUE_A, TRUE_B, np.zeros(8), np.full(8, 900), True, 10, 0.0)
    new, rmsd, trusted = link(stored, same)
    assert trusted and float(rmsd.max()) < 1e-6
    np.testing.assert_allclose(new.b, TRUE_B, atol=1e-4)


def test_link_survives_an_item_everyone_got_right() -> None:
    """An item with an infinite difficulty estimate is never an anchor: the others still link,
    and that item (clipped) is only proposed."""
    stored = Params(TRUE_A, TRUE_B, np.zeros(8))
    b = TRUE_B.copy()
    b[0] = -np.inf
    fit = Calibration("2pl", TRUE_A, b, np.zeros(8), np.full(8, 900), True, 10, 0.0)
    new, rmsd, trusted = link(stored, fit)
    assert trusted and np.isfinite(new.b).all()
    assert rmsd[0] > 0.1 and float(rmsd[1:].max()) < 1e-3


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
