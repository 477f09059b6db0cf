"""A person's data export: built by the worker job, announced with a short-lived link, holding
everything about them; a parent may export a linked child's; nobody else's is handed out."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import httpx
from arq.jobs import Job
from redis.asyncio import Redis

from hub.clock import utc_now
from hub.context import HubContext
from hub.privacy import retention
from tests.privacy_support import footprint
from tests.support import Factory, FrozenClock, User, error_of
from workers.privacy_jobs import build_export


async def _links(hub: HubContext) -> dict[str, str]:
    """export id -> download URL, from the notify_users jobs waiting in the hub's queue."""
    found = {}
    for job_id in await hub.redis.zrange(hub.keys.job_queue, 0, -1):
        info = await Job(job_id.decode(), hub.redis, _queue_name=hub.keys.job_queue).info()
        if info is not None and info.function == "notify_users" and info.args[1] == "export_ready":
            data = info.args[4]
            found[data["export_id"]] = data["url"]
    return found


async def _export(
    api: httpx.AsyncClient, hub: HubContext, asker: User, **body: Any
) -> tuple[str, str]:
    """Ask, run the worker's job, return (export id, the link's token)."""
    asked = await api.post("/users/me/export", json=body, headers=asker.headers)
    assert asked.status_code == 202, asked.text
    export_id = asked.json()["id"]
    assert asked.json()["status"] == "queued"
    assert await build_export({"hub": hub, "job_try": 1}, export_id) > 0
    url = (await _links(hub))[export_id]
    assert url.startswith(f"{hub.settings.public_url}/api/v1/exports/{export_id}?")
    return export_id, parse_qs(urlsplit(url).query)["token"][0]


def _documents(content: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {n.removesuffix(".json"): json.loads(archive.read(n)) for n in archive.namelist()}


async def test_the_export_holds_everything_about_the_caller(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext, redis: Redis
) -> None:
    """Profile, memberships, messages, attachments, notifications, consents, exams, tutor."""
    fp = await footprint(factory, api, hub_ctx, redis)
    export_id, token = await _export(api, hub_ctx, fp.person)
    got = await api.get(f"/exports/{export_id}", params={"token": token}, headers=fp.person.headers)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/zip"
    docs = _documents(got.content)
    assert set(docs) >= {
        "profile", "memberships", "conversations", "messages", "attachments", "notifications",
        "consents", "sessions", "exam_attempts", "tutor_questions", "manifest",
    }  # fmt: skip
    assert docs["profile"][0]["email"] == fp.person.email
    assert docs["profile"][0]["display_name"] == fp.name
    assert [m["role"] for m in docs["memberships"]] == ["student"]
    mine = [m["content"] for m in docs["messages"] if m["mine"]]
    assert set(fp.texts) <= set(mine)
    assert docs["attachments"][0]["name"] == f"{fp.name}_숙제.png"
    assert docs["attachments"][0]["transcript"] == fp.texts[0]
    assert [n["body"] for n in docs["notifications"]] == [fp.texts[1]]
    assert docs["consents"][0]["kind"] == "privacy_policy" and docs["consents"][0]["ip"]
    attempt = docs["exam_attempts"][0]
    assert attempt["score"] == 1 and attempt["answers"][0]["correct"] is True
    assert attempt["proctor_events"][0]["kind"] == "copy"
    assert docs["tutor_questions"][0]["question"] == fp.texts[1]
    # Nothing of another person's private rows: the teacher's notifications stay out.
    assert all(n["body"] != f"{fp.name}: {fp.texts[0]}" for n in docs["notifications"])


async def test_an_export_of_someone_else_is_refused_and_links_are_guarded(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext, clock: FrozenClock
) -> None:
    """Another's export: 403, nothing queued; wrong token, wrong person, expired: refused."""
    org = await factory.org()
    person, other = await factory.user("student", org), await factory.user("student", org)
    before = await factory.snapshot()
    refused = await api.post(
        "/users/me/export", json={"user_id": str(other.id)}, headers=person.headers
    )
    assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden"
    assert await factory.snapshot() == before
    bad = await api.post("/users/me/export", json={"user_id": "nope"}, headers=person.headers)
    assert bad.status_code == 422
    export_id, token = await _export(api, hub_ctx, person)
    for who, params in ((person, {"token": "x" * 43}), (other, {"token": token})):
        denied = await api.get(f"/exports/{export_id}", params=params, headers=who.headers)
        assert denied.status_code == 404, denied.text
    clock.advance(seconds=hub_ctx.settings.export_ttl_s + 1)
    expired = await api.get(
        f"/exports/{export_id}", params={"token": token}, headers=person.headers
    )
    assert expired.status_code == 409 and error_of(expired)["code"] == "link_expired"
    # The daily sweep then removes the archive and its row.
    assert await retention.run(hub_ctx, "exports") == 1
    assert await factory.fetchval("SELECT count(*) FROM data_exports") == 0


async def test_a_parent_with_an_approved_link_exports_the_childs_data(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """An approved parent gets the child's archive; a parent whose link is pending does not."""
    org = await factory.org()
    child = await factory.user("student", org)
    parent, pending = await factory.user("parent", org), await factory.user("parent", org)
    now = utc_now()
    for who, status in ((parent, "approved"), (pending, "pending")):
        await factory.fetch(
            """INSERT INTO parent_links (org_id, zone_id, parent_id, student_id, status,
                                         requested_at, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            org.id,
            org.zone_id,
            who.id,
            child.id,
            status,
            now,
            now + timedelta(days=7),
        )
    refused = await api.post(
        "/users/me/export", json={"user_id": str(child.id)}, headers=pending.headers
    )
    assert refused.status_code == 403
    export_id, token = await _export(api, hub_ctx, parent, user_id=str(child.id))
    got = await api.get(f"/exports/{export_id}", params={"token": token}, headers=parent.headers)
    docs = _documents(got.content)
    assert docs["profile"][0]["id"] == str(child.id)
    assert UUID(docs["manifest"][0]["subject_id"]) == child.id
