"""The item bank over REST: items, their parameter versions, retirement, and the review of
drifted parameters."""

from __future__ import annotations

from typing import Any

import httpx

from tests.exam_support import School, answer, make_exam, make_items, school, start
from tests.support import Factory, error_of


async def history(api: httpx.AsyncClient, s: School, item_id: str) -> dict[str, Any]:
    response = await api.get(f"/items/{item_id}/parameters", headers=s.teacher.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def versions(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (v["version"], v["source"], v["status"], v["a"], v["b"], v["c"]) for v in doc["versions"]
    ]


async def item_row(factory: Factory, item_id: str) -> dict[str, Any]:
    rows = await factory.fetch("SELECT * FROM items WHERE id = $1::uuid", item_id)
    return dict(rows[0])


async def listed(api: httpx.AsyncClient, s: School, **filters: Any) -> list[str]:
    params = {"org_id": str(s.org.id), **filters}
    response = await api.get("/items", params=params, headers=s.teacher.headers)
    assert response.status_code == 200, response.text
    return [i["id"] for i in response.json()["items"]]


async def propose(
    factory: Factory, item_id: str, version: int, a: float, b: float, c: float
) -> None:
    """What a calibration that found drift leaves: a proposed version and a flagged item."""
    await factory.fetch(
        """INSERT INTO item_parameters (item_id, version, zone_id, org_id, a, b, c, source, status,
                                        n_responses, drift_rmsd)
           SELECT id, $2, zone_id, org_id, $3, $4, $5, 'calibration', 'proposed', 800, 0.21
           FROM items WHERE id = $1::uuid""",
        item_id,
        version,
        a,
        b,
        c,
    )
    await factory.fetch("UPDATE items SET drift_flagged_at = now() WHERE id = $1::uuid", item_id)


async def review(
    api: httpx.AsyncClient, s: School, item_id: str, version: int, accept: bool
) -> httpx.Response:
    return await api.post(
        f"/items/{item_id}/parameters/review",
        json={"version": version, "accept": accept},
        headers=s.teacher.headers,
    )


async def test_create_records_author_version(api: httpx.AsyncClient, factory: Factory) -> None:
    """A new item gets a=1, b=0, c=0 by default, recorded as version 1 by its author."""
    s = await school(factory)
    (item,) = await make_items(api, s.teacher, s.org, 1)
    assert (item["a"], item["b"], item["c"], item["param_version"]) == (1, 0, 0, 1)
    assert item["answer"] == 1 and item["drift_flagged_at"] is None
    doc = await history(api, s, item["id"])
    assert doc["current_version"] == 1
    assert versions(doc) == [(1, "author", "current", 1, 0, 0)]
    assert (await item_row(factory, item["id"]))["created_by"] == s.teacher.id
    fetched = await api.get(f"/items/{item['id']}", headers=s.teacher.headers)
    assert fetched.json() == item


async def test_list_filters_by_area_and_flag(api: httpx.AsyncClient, factory: Factory) -> None:
    """The list filters by content area and by drift flag, alone or together."""
    s = await school(factory)
    items = await make_items(api, s.teacher, s.org, 3, areas=["algebra", "algebra", "geometry"])
    ids = [i["id"] for i in items]
    await factory.fetch("UPDATE items SET drift_flagged_at = now() WHERE id = $1::uuid", ids[1])
    assert await listed(api, s) == ids
    assert await listed(api, s, content_area="algebra") == ids[:2]
    assert await listed(api, s, content_area="geometry") == ids[2:]
    assert await listed(api, s, flagged="true") == [ids[1]]
    assert await listed(api, s, flagged="false") == [ids[0], ids[2]]
    assert await listed(api, s, content_area="geometry", flagged="true") == []
    assert await listed(api, s, limit=1, offset=1) == [ids[1]]


async def test_update_wording_keeps_parameters(api: httpx.AsyncClient, factory: Factory) -> None:
    """Wording changes in place with no new version; the number of choices cannot change."""
    s = await school(factory)
    (item,) = await make_items(api, s.teacher, s.org, 1)
    url = f"/items/{item['id']}"
    change = {"stem": "What is 2 + 2?", "choices": ["1", "4", "5", "22"], "content_area": "sums"}
    response = await api.put(url, json=change, headers=s.teacher.headers)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert {k: updated[k] for k in change} == change
    assert updated["param_version"] == 1 and updated["answer"] == 1
    assert versions(await history(api, s, item["id"])) == [(1, "author", "current", 1, 0, 0)]
    before, row = await factory.snapshot(), await item_row(factory, item["id"])
    fewer = await api.put(url, json={"choices": ["1", "4", "5"]}, headers=s.teacher.headers)
    assert fewer.status_code == 422
    error = error_of(fewer)
    assert (error["code"], error["field"]) == ("validation_error", "choices")
    assert await factory.snapshot() == before
    assert await item_row(factory, item["id"]) == row


async def test_new_parameters_supersede_the_old(api: httpx.AsyncClient, factory: Factory) -> None:
    """New parameters by hand become the current version; the old one is kept, superseded."""
    s = await school(factory)
    (item,) = await make_items(api, s.teacher, s.org, 1)
    params = {"a": 1.8, "b": -0.5, "c": 0.2}
    response = await api.put(
        f"/items/{item['id']}", json={"params": params}, headers=s.teacher.headers
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["a"], updated["b"], updated["c"], updated["param_version"]) == (
        1.8,
        -0.5,
        0.2,
        2,
    )
    assert updated["stem"] == item["stem"]
    doc = await history(api, s, item["id"])
    assert doc["current_version"] == 2
    assert versions(doc) == [
        (1, "author", "superseded", 1, 0, 0),
        (2, "author", "current", 1.8, -0.5, 0.2),
    ]


async def test_retired_item_leaves_the_bank_not_the_exam(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A retired item is gone from the list and from new exams; an exam using it still runs."""
    s = await school(factory)
    items = await make_items(api, s.teacher, s.org, 2)
    exam = await make_exam(api, s.teacher, s.org, items, "fixed")
    gone = await api.delete(f"/items/{items[0]['id']}", headers=s.teacher.headers)
    assert gone.status_code == 204, gone.text
    assert await listed(api, s) == [items[1]["id"]]
    kept = await api.get(f"/items/{items[0]['id']}", headers=s.teacher.headers)
    assert kept.json()["retired_at"] is not None
    attempt = await start(api, s.students[0], exam)
    assert [q["item_id"] for q in attempt["questions"]] == [i["id"] for i in items]
    response = await answer(api, s.students[0], attempt["id"], items[0]["id"], 1)
    assert response.status_code == 201, response.text
    done = await api.post(f"/exams/{exam['id']}/submit", headers=s.students[0].headers)
    assert (done.json()["score"], done.json()["max_score"]) == (1, 2)
    body = {
        "org_id": str(s.org.id),
        "title": "Again",
        "mode": "fixed",
        "item_ids": [items[0]["id"]],
    }
    again = await api.post("/exams", json=body, headers=s.teacher.headers)
    assert again.status_code == 422 and error_of(again)["field"] == "item_ids"


async def test_accepting_drift_adopts_the_proposal(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Accepting a proposed version makes it current on the item and clears the flag."""
    s = await school(factory)
    (item,) = await make_items(api, s.teacher, s.org, 1)
    await propose(factory, item["id"], 2, 1.4, 0.3, 0.1)
    assert await listed(api, s, flagged="true") == [item["id"]]
    response = await review(api, s, item["id"], 2, accept=True)
    assert response.status_code == 200, response.text
    reviewed = response.json()
    assert (reviewed["a"], reviewed["b"], reviewed["c"], reviewed["param_version"]) == (
        1.4,
        0.3,
        0.1,
        2,
    )
    assert reviewed["drift_flagged_at"] is None
    doc = await history(api, s, item["id"])
    assert doc["current_version"] == 2
    assert versions(doc) == [
        (1, "author", "superseded", 1, 0, 0),
        (2, "calibration", "current", 1.4, 0.3, 0.1),
    ]
    assert doc["versions"][1]["reviewed_at"] is not None
    reviewer = await factory.fetchval(
        "SELECT reviewed_by FROM item_parameters WHERE item_id = $1::uuid AND version = 2",
        item["id"],
    )
    assert reviewer == s.teacher.id
    assert await listed(api, s, flagged="true") == []


async def test_rejecting_drift_keeps_the_parameters(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Rejecting a proposed version leaves the item's parameters and clears the flag."""
    s = await school(factory)
    (item,) = await make_items(api, s.teacher, s.org, 1, params=[{"a": 1.2, "b": 0.4, "c": 0.1}])
    await propose(factory, item["id"], 2, 2.5, -1.0, 0.3)
    response = await review(api, s, item["id"], 2, accept=False)
    assert response.status_code == 200, response.text
    reviewed = response.json()
    assert (reviewed["a"], reviewed["b"], reviewed["c"], reviewed["param_version"]) == (
        1.2,
        0.4,
        0.1,
        1,
    )
    assert reviewed["drift_flagged_at"] is None
    doc = await history(api, s, item["id"])
    assert doc["current_version"] == 1
    assert versions(doc) == [
        (1, "author", "current", 1.2, 0.4, 0.1),
        (2, "calibration", "rejected", 2.5, -1.0, 0.3),
    ]


async def test_reviewing_what_is_not_proposed(api: httpx.AsyncClient, factory: Factory) -> None:
    """Only a proposed version can be reviewed: current, decided or unknown ones conflict."""
    s = await school(factory)
    (item,) = await make_items(api, s.teacher, s.org, 1)
    await propose(factory, item["id"], 2, 1.4, 0.3, 0.1)
    assert (await review(api, s, item["id"], 2, accept=False)).status_code == 200
    before, row = await factory.snapshot(), await item_row(factory, item["id"])
    doc = await history(api, s, item["id"])
    for version, accept in ((1, True), (2, True), (2, False), (9, True)):
        response = await review(api, s, item["id"], version, accept)
        assert response.status_code == 409, response.text
        assert error_of(response)["code"] == "conflict"
    assert await factory.snapshot() == before
    assert await item_row(factory, item["id"]) == row
    assert await history(api, s, item["id"]) == doc


async def test_teacher_of_another_organization(api: httpx.AsyncClient, factory: Factory) -> None:
    """Another school's teacher can neither read nor change this school's items."""
    s = await school(factory)
    (item,) = await make_items(api, s.teacher, s.org, 1)
    await propose(factory, item["id"], 2, 1.4, 0.3, 0.1)
    other_org = await factory.org()
    stranger = await factory.user("teacher", other_org)
    h = stranger.headers
    before, row = await factory.snapshot(), await item_row(factory, item["id"])
    url = f"/items/{item['id']}"
    attempts = [
        await api.get(url, headers=h),
        await api.get(f"{url}/parameters", headers=h),
        await api.put(url, json={"params": {"a": 2.0}}, headers=h),
        await api.delete(url, headers=h),
        await api.post(f"{url}/parameters/review", json={"version": 2, "accept": True}, headers=h),
    ]
    assert [(r.status_code, error_of(r)["code"]) for r in attempts] == [(404, "not_found")] * 5
    listing = await api.get("/items", params={"org_id": str(s.org.id)}, headers=h)
    assert (listing.status_code, error_of(listing)["code"]) == (403, "forbidden")
    assert await factory.snapshot() == before
    assert await item_row(factory, item["id"]) == row


async def test_new_parameters_close_older_proposals(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Parameters set by hand supersede an open proposal and clear the flag; it cannot be
    accepted afterwards."""
    s = await school(factory)
    (item,) = await make_items(api, s.teacher, s.org, 1)
    await propose(factory, item["id"], 2, 1.4, 0.3, 0.1)
    params = {"a": 1.1, "b": -0.2, "c": 0.0}
    response = await api.put(
        f"/items/{item['id']}", json={"params": params}, headers=s.teacher.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["param_version"] == 3 and response.json()["drift_flagged_at"] is None
    assert [v[:3] for v in versions(await history(api, s, item["id"]))] == [
        (1, "author", "superseded"),
        (2, "calibration", "superseded"),
        (3, "author", "current"),
    ]
    stale = await review(api, s, item["id"], 2, accept=True)
    assert stale.status_code == 409 and error_of(stale)["code"] == "conflict"
    assert (await item_row(factory, item["id"]))["b"] == -0.2


async def test_accepting_a_proposal_closes_only_older_ones(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Of two open proposals, accepting the older leaves the newer open and the item flagged;
    accepting the newer then clears the flag."""
    s = await school(factory)
    (item,) = await make_items(api, s.teacher, s.org, 1)
    await propose(factory, item["id"], 2, 1.4, 0.3, 0.1)
    await propose(factory, item["id"], 3, 1.5, 0.4, 0.1)
    first = await review(api, s, item["id"], 2, accept=True)
    assert first.status_code == 200, first.text
    assert first.json()["param_version"] == 2 and first.json()["drift_flagged_at"] is not None
    second = await review(api, s, item["id"], 3, accept=True)
    assert second.status_code == 200, second.text
    assert second.json()["param_version"] == 3 and second.json()["drift_flagged_at"] is None
    assert [v[2] for v in versions(await history(api, s, item["id"]))] == [
        "superseded",
        "superseded",
        "current",
    ]


async def test_accepting_the_newer_proposal_supersedes_the_older(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Accepting the newest proposal supersedes an older one, which can then not be reviewed."""
    s = await school(factory)
    (item,) = await make_items(api, s.teacher, s.org, 1)
    await propose(factory, item["id"], 2, 1.4, 0.3, 0.1)
    await propose(factory, item["id"], 3, 1.5, 0.4, 0.1)
    accepted = await review(api, s, item["id"], 3, accept=True)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["drift_flagged_at"] is None
    assert [v[2] for v in versions(await history(api, s, item["id"]))] == [
        "superseded",
        "superseded",
        "current",
    ]
    for accept in (True, False):
        assert (await review(api, s, item["id"], 2, accept)).status_code == 409


async def test_proposal_older_than_the_current_version_is_refused(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A proposal left open below the current version (as older releases did) conflicts."""
    s = await school(factory)
    (item,) = await make_items(api, s.teacher, s.org, 1)
    await propose(factory, item["id"], 2, 1.4, 0.3, 0.1)
    await factory.fetch(
        """INSERT INTO item_parameters (item_id, version, zone_id, org_id, a, b, c, source, status)
           SELECT id, 3, zone_id, org_id, 1.2, 0.1, 0.0, 'calibration', 'current'
           FROM items WHERE id = $1::uuid""",
        item["id"],
    )
    await factory.fetch(
        "UPDATE item_parameters SET status = 'superseded' WHERE item_id = $1::uuid AND version = 1",
        item["id"],
    )
    await factory.fetch(
        "UPDATE items SET a = 1.2, b = 0.1, param_version = 3 WHERE id = $1::uuid", item["id"]
    )
    before, row = await factory.snapshot(), await item_row(factory, item["id"])
    for accept in (True, False):
        response = await review(api, s, item["id"], 2, accept)
        assert response.status_code == 409, response.text
        error = error_of(response)
        assert error["code"] == "conflict" and "older than" in error["message"]
    assert await factory.snapshot() == before
    assert await item_row(factory, item["id"]) == row
