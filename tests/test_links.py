"""Parent–student links: the parent asks, the student answers, silence expires in 7 days."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import socketio

from hub.accounts import links
from hub.context import HubContext
from tests.support import Factory, FrozenClock, Org, User, error_of

WEEK = timedelta(days=7)


@dataclass
class Family:
    org: Org
    parent: User
    student: User


async def _family(factory: Factory) -> Family:
    org = await factory.org()
    return Family(org, await factory.user(), await factory.user("student", org))


async def _request(api: httpx.AsyncClient, parent: User, student: User) -> dict[str, Any]:
    """Ask, check the answer reveals nothing, and return the link as the student sees it."""
    response = await api.post(
        "/parent/link-student", headers=parent.headers, json={"student_email": student.email}
    )
    assert response.status_code == 202, response.text
    assert response.json() == links.REQUESTED
    listed = await api.get("/links", headers=student.headers)
    mine = [i for i in listed.json()["items"] if i["parent_id"] == str(parent.id)]
    body: dict[str, Any] = mine[0]
    return body


async def _status(factory: Factory, link_id: str) -> str:
    status: str = await factory.fetchval(
        "SELECT status::text FROM parent_links WHERE id = $1", uuid.UUID(link_id)
    )
    return status


async def _roles(factory: Factory, user: User, org: Org) -> list[str]:
    rows = await factory.fetch(
        "SELECT role::text FROM memberships WHERE user_id = $1 AND org_id = $2 ORDER BY role",
        user.id,
        org.id,
    )
    return [r["role"] for r in rows]


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass
class Inbox:
    """A user's real Socket.IO client, with the link events it received queued by name."""

    client: socketio.AsyncClient
    queues: dict[str, asyncio.Queue[Any]] = field(default_factory=dict)

    async def next(self, event: str) -> Any:
        return await asyncio.wait_for(self.queues[event].get(), timeout=5)


LINK_EVENTS = ("requested", "approved", "rejected", "expired")


@pytest.fixture
async def inbox(hub_server: tuple[str, Any]) -> AsyncIterator[Callable[[User], Awaitable[Inbox]]]:
    opened: list[Inbox] = []

    async def open_inbox(user: User) -> Inbox:
        box = Inbox(socketio.AsyncClient(reconnection=False))
        for name in LINK_EVENTS:
            queue: asyncio.Queue[Any] = asyncio.Queue()
            box.queues[f"parent_link.{name}"] = queue
            box.client.on(f"parent_link.{name}", queue.put)
        opened.append(box)
        await box.client.connect(
            hub_server[0], auth={"token": user.token}, transports=["websocket"], wait_timeout=5
        )
        return box

    yield open_inbox
    for box in opened:
        if box.client.connected:
            await box.client.disconnect()


# --- asking --------------------------------------------------------------------------------


async def test_parent_requests_link(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock
) -> None:
    """A request is pending, points at the student's org and expires 7 days after it was made."""
    family = await _family(factory)
    link = await _request(api, family.parent, family.student)
    assert link["status"] == "pending"
    assert (link["parent_id"], link["student_id"]) == (
        str(family.parent.id),
        str(family.student.id),
    )
    assert link["org_id"] == str(family.org.id)
    assert _at(link["requested_at"]) == clock.now
    assert _at(link["expires_at"]) == clock.now + WEEK
    assert link["answered_at"] is None
    assert await _status(factory, link["id"]) == "pending"
    [entry] = await factory.fetch(
        "SELECT actor_id, target_id, org_id FROM audit_log WHERE action = 'parent_link.request'"
    )
    assert tuple(entry) == (family.parent.id, link["id"], family.org.id)


async def test_student_email_is_case_insensitive(api: httpx.AsyncClient, factory: Factory) -> None:
    """The student is found whatever the case of the e-mail the parent typed."""
    family = await _family(factory)
    response = await api.post(
        "/parent/link-student",
        headers=family.parent.headers,
        json={"student_email": family.student.email.upper()},
    )
    assert response.status_code == 202, response.text
    assert await factory.fetchval("SELECT student_id FROM parent_links") == family.student.id


async def test_answer_is_the_same_whatever_the_email(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A teacher's, an unknown, the caller's own and a student's e-mail (even another school's)
    all get the same 202; only the student's stores a request."""
    org = await factory.org()
    parent, teacher = (
        await factory.user("teacher", await factory.org()),
        await factory.user("teacher", org),
    )
    student = await factory.user("student", org)
    before = await factory.snapshot()
    answers = []
    for email in (teacher.email, "ghost@test.dreamseed.kr", parent.email):
        response = await api.post(
            "/parent/link-student", headers=parent.headers, json={"student_email": email}
        )
        answers.append((response.status_code, response.json()))
    assert await factory.snapshot() == before
    response = await api.post(
        "/parent/link-student", headers=parent.headers, json={"student_email": student.email}
    )
    answers.append((response.status_code, response.json()))
    assert answers == [(202, links.REQUESTED)] * 4
    assert "org_id" not in response.text and str(student.id) not in response.text
    assert await factory.fetchval("SELECT count(*) FROM parent_links") == 1


async def test_parent_sees_nothing_of_a_request_before_approval(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A pending or rejected request is not listed to the parent and no rejection is told."""
    family = await _family(factory)
    link = await _request(api, family.parent, family.student)
    assert (await api.get("/links", headers=family.parent.headers)).json()["items"] == []
    rejected = await api.post(
        f"/student/reject-parent/{link['id']}", headers=family.student.headers
    )
    assert rejected.status_code == 200, rejected.text
    assert (await api.get("/links", headers=family.parent.headers)).json()["items"] == []


async def test_students_may_not_ask(api: httpx.AsyncClient, factory: Factory) -> None:
    """A student (of any school) asking to be someone's parent is 403 and stores nothing."""
    family = await _family(factory)
    other = await factory.user("student", await factory.org())
    response = await api.post(
        "/parent/link-student", headers=other.headers, json={"student_email": family.student.email}
    )
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    assert await factory.fetchval("SELECT count(*) FROM parent_links") == 0


async def test_link_requests_are_rate_limited_per_caller(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """Past the hourly budget a caller gets 429 with retry_after, whatever the e-mail."""
    parent = await factory.user()
    budget = hub_ctx.settings.link_requests_per_hour
    codes = []
    for n in range(budget + 1):
        response = await api.post(
            "/parent/link-student",
            headers=parent.headers,
            json={"student_email": f"guess{n}@test.dreamseed.kr"},
        )
        codes.append(response.status_code)
    assert codes == [202] * budget + [429]
    assert error_of(response)["retry_after"] >= 1


async def test_student_email_must_be_an_email(api: httpx.AsyncClient, factory: Factory) -> None:
    """A malformed student_email is a 422 validation_error naming the field."""
    parent = await factory.user()
    response = await api.post(
        "/parent/link-student", headers=parent.headers, json={"student_email": "not an email"}
    )
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert [f["field"] for f in error["fields"]] == ["student_email"]


async def test_duplicate_pending_request_stores_one(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Asking again while a request is pending answers the same and leaves one link."""
    family = await _family(factory)
    await _request(api, family.parent, family.student)
    response = await api.post(
        "/parent/link-student",
        headers=family.parent.headers,
        json={"student_email": family.student.email},
    )
    assert (response.status_code, response.json()) == (202, links.REQUESTED)
    assert await factory.fetchval("SELECT count(*) FROM parent_links") == 1


async def test_request_needs_a_token(api: httpx.AsyncClient, factory: Factory) -> None:
    """Asking without signing in is 401 and stores nothing."""
    family = await _family(factory)
    response = await api.post("/parent/link-student", json={"student_email": family.student.email})
    assert response.status_code == 401
    assert await factory.fetchval("SELECT count(*) FROM parent_links") == 0


# --- answering -----------------------------------------------------------------------------


async def test_student_approves(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock
) -> None:
    """Approval marks the link approved and makes the parent a 'parent' of the student's org."""
    family = await _family(factory)
    link = await _request(api, family.parent, family.student)
    clock.advance(hours=5)
    response = await api.post(
        f"/student/approve-parent/{link['id']}", headers=family.student.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "approved"
    assert _at(body["answered_at"]) == clock.now
    assert await _status(factory, link["id"]) == "approved"
    assert await _roles(factory, family.parent, family.org) == ["parent"]
    me = await api.get("/users/me", headers=family.parent.headers)
    assert me.json()["memberships"] == [
        {"org_id": str(family.org.id), "zone_id": str(family.org.zone_id), "role": "parent"}
    ]
    # Now a member, the parent can see the school.
    org = await api.get(f"/organizations/{family.org.id}", headers=family.parent.headers)
    assert org.status_code == 200, org.text
    assert (
        await factory.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'parent_link.approved'"
        )
        == 1
    )


async def test_approved_link_blocks_a_new_request(api: httpx.AsyncClient, factory: Factory) -> None:
    """Once approved, asking again for the same student stores nothing new."""
    family = await _family(factory)
    link = await _request(api, family.parent, family.student)
    approved = await api.post(
        f"/student/approve-parent/{link['id']}", headers=family.student.headers
    )
    assert approved.status_code == 200, approved.text
    response = await api.post(
        "/parent/link-student",
        headers=family.parent.headers,
        json={"student_email": family.student.email},
    )
    assert (response.status_code, response.json()) == (202, links.REQUESTED)
    assert await factory.fetchval("SELECT count(*) FROM parent_links") == 1


async def test_student_rejects(api: httpx.AsyncClient, factory: Factory) -> None:
    """Rejection marks the link rejected, grants nothing, and lets the parent ask again."""
    family = await _family(factory)
    link = await _request(api, family.parent, family.student)
    response = await api.post(
        f"/student/reject-parent/{link['id']}", headers=family.student.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    assert response.json()["answered_at"] is not None
    assert await _status(factory, link["id"]) == "rejected"
    assert await _roles(factory, family.parent, family.org) == []
    again = await _request(api, family.parent, family.student)
    assert again["id"] != link["id"]


async def test_parent_cannot_answer_own_request(api: httpx.AsyncClient, factory: Factory) -> None:
    """The parent approving or rejecting their own request gets 403 and nothing changes."""
    family = await _family(factory)
    link = await _request(api, family.parent, family.student)
    before = await factory.snapshot()
    for verb in ("approve", "reject"):
        response = await api.post(
            f"/student/{verb}-parent/{link['id']}", headers=family.parent.headers
        )
        assert response.status_code == 403, verb
        assert error_of(response)["code"] == "forbidden"
    assert await factory.snapshot() == before
    assert await _status(factory, link["id"]) == "pending"
    assert await _roles(factory, family.parent, family.org) == []


async def test_other_student_cannot_see_link(api: httpx.AsyncClient, factory: Factory) -> None:
    """A classmate answering someone else's link gets 404: the link is invisible to them."""
    family = await _family(factory)
    classmate = await factory.user("student", family.org)
    link = await _request(api, family.parent, family.student)
    response = await api.post(f"/student/approve-parent/{link['id']}", headers=classmate.headers)
    assert response.status_code == 404
    assert await _status(factory, link["id"]) == "pending"


async def test_answer_unknown_or_malformed_link(api: httpx.AsyncClient, factory: Factory) -> None:
    """An unknown link id is 404; a non-UUID one is 422 naming link_id."""
    student = await factory.user("student", await factory.org())
    missing = await api.post(f"/student/approve-parent/{uuid.uuid4()}", headers=student.headers)
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "not_found"
    malformed = await api.post("/student/reject-parent/abc", headers=student.headers)
    assert malformed.status_code == 422
    assert [f["field"] for f in error_of(malformed)["fields"]] == ["link_id"]


async def test_answering_twice_conflicts(api: httpx.AsyncClient, factory: Factory) -> None:
    """After an answer, approving or rejecting again is 409 and the first answer stands."""
    family = await _family(factory)
    link = await _request(api, family.parent, family.student)
    first = await api.post(f"/student/approve-parent/{link['id']}", headers=family.student.headers)
    assert first.status_code == 200, first.text
    for verb in ("approve", "reject"):
        response = await api.post(
            f"/student/{verb}-parent/{link['id']}", headers=family.student.headers
        )
        assert response.status_code == 409, verb
        error = error_of(response)
        assert error["code"] == "conflict"
        assert "approved" in error["message"]
    assert await _status(factory, link["id"]) == "approved"


async def test_approving_after_seven_days_expires_the_link(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock
) -> None:
    """Past 7 days, approving is 409 link_expired; the link becomes 'expired', grants nothing."""
    family = await _family(factory)
    link = await _request(api, family.parent, family.student)
    clock.advance(days=7, seconds=1)
    response = await api.post(
        f"/student/approve-parent/{link['id']}", headers=family.student.headers
    )
    assert response.status_code == 409
    assert error_of(response)["code"] == "link_expired"
    assert await _status(factory, link["id"]) == "expired"
    assert await _roles(factory, family.parent, family.org) == []
    [entry] = await factory.fetch(
        "SELECT actor_id, target_id FROM audit_log WHERE action = 'parent_link.expired'"
    )
    assert tuple(entry) == (None, link["id"])
    again = await api.post(f"/student/approve-parent/{link['id']}", headers=family.student.headers)
    assert again.status_code == 409
    assert error_of(again)["code"] == "conflict"


async def test_approving_just_before_expiry_works(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock
) -> None:
    """One second before the 7 days are up the student can still approve."""
    family = await _family(factory)
    link = await _request(api, family.parent, family.student)
    clock.advance(days=7, seconds=-1)
    response = await api.post(
        f"/student/approve-parent/{link['id']}", headers=family.student.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "approved"


# --- listing -------------------------------------------------------------------------------


async def test_links_are_listed_to_both_sides(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock
) -> None:
    """GET /links shows a parent's approved links newest first, the student theirs, outsiders
    none."""
    family = await _family(factory)
    sibling = await factory.user("student", await factory.org())
    outsider = await factory.user("student", family.org)
    older = await _request(api, family.parent, family.student)
    clock.advance(minutes=1)
    newer = await _request(api, family.parent, sibling)

    async def listed(user: User) -> list[str]:
        response = await api.get("/links", headers=user.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await listed(family.parent) == []
    for link, student in ((older, family.student), (newer, sibling)):
        approved = await api.post(f"/student/approve-parent/{link['id']}", headers=student.headers)
        assert approved.status_code == 200, approved.text
    assert await listed(family.parent) == [newer["id"], older["id"]]
    assert await listed(family.student) == [older["id"]]
    assert await listed(sibling) == [newer["id"]]
    assert await listed(outsider) == []
    response = await api.get("/links", headers=family.student.headers)
    assert [(i["id"], i["status"]) for i in response.json()["items"]] == [(older["id"], "approved")]


# --- the expiry job ------------------------------------------------------------------------


async def test_expire_pending_closes_only_overdue_requests(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock, hub_ctx: HubContext
) -> None:
    """The job leaves a 6-day-old request alone, expires it past 7 days, and skips answered ones."""
    family = await _family(factory)
    answered_student = await factory.user("student", family.org)
    overdue = await _request(api, family.parent, family.student)
    answered = await _request(api, family.parent, answered_student)
    approved = await api.post(
        f"/student/approve-parent/{answered['id']}", headers=answered_student.headers
    )
    assert approved.status_code == 200, approved.text
    clock.advance(days=1)
    fresh = await _request(api, await factory.user(), family.student)

    clock.advance(days=5)  # overdue is 6 days old
    assert await links.expire_pending(hub_ctx) == 0
    assert await _status(factory, overdue["id"]) == "pending"

    clock.advance(days=1, seconds=1)  # overdue is 7 days + 1 s old, fresh 6 days + 1 s
    assert await links.expire_pending(hub_ctx) == 1
    assert await _status(factory, overdue["id"]) == "expired"
    assert await _status(factory, fresh["id"]) == "pending"
    assert await _status(factory, answered["id"]) == "approved"
    [entry] = await factory.fetch(
        "SELECT actor_id, target_id, org_id FROM audit_log WHERE action = 'parent_link.expired'"
    )
    assert tuple(entry) == (None, overdue["id"], family.org.id)

    assert await links.expire_pending(hub_ctx) == 0
    late = await api.post(
        f"/student/approve-parent/{overdue['id']}", headers=family.student.headers
    )
    assert late.status_code == 409


# --- what the sockets hear -----------------------------------------------------------------


async def test_both_sides_hear_the_request_and_the_answer(
    api: httpx.AsyncClient, factory: Factory, inbox: Callable[[User], Awaitable[Inbox]]
) -> None:
    """The student's socket hears the request; the parent's hears the approval."""
    family = await _family(factory)
    parent, student = await inbox(family.parent), await inbox(family.student)
    link = await _request(api, family.parent, family.student)
    requested = await student.next("parent_link.requested")
    assert requested == {
        "id": link["id"],
        "parent_id": str(family.parent.id),
        "student_id": str(family.student.id),
        "status": "pending",
    }
    response = await api.post(
        f"/student/approve-parent/{link['id']}", headers=family.student.headers
    )
    assert response.status_code == 200, response.text
    approved = await parent.next("parent_link.approved")
    assert (approved["id"], approved["status"]) == (link["id"], "approved")


async def test_late_answer_tells_the_student_it_expired(
    api: httpx.AsyncClient,
    factory: Factory,
    clock: FrozenClock,
    inbox: Callable[[User], Awaitable[Inbox]],
) -> None:
    """A link found expired when the student answers is announced to the student, as the job
    would; the parent is not told (an expiry would say the e-mail is a student's)."""
    family = await _family(factory)
    student = await inbox(family.student)
    link = await _request(api, family.parent, family.student)
    clock.advance(days=7, seconds=1)
    response = await api.post(
        f"/student/reject-parent/{link['id']}", headers=family.student.headers
    )
    assert error_of(response)["code"] == "link_expired"
    event = await student.next("parent_link.expired")
    assert (event["id"], event["status"]) == (link["id"], "expired")


async def test_expiry_job_tells_the_student(
    api: httpx.AsyncClient,
    factory: Factory,
    clock: FrozenClock,
    hub_ctx: HubContext,
    inbox: Callable[[User], Awaitable[Inbox]],
) -> None:
    """expire_pending announces 'parent_link.expired' to the student."""
    family = await _family(factory)
    student = await inbox(family.student)
    link = await _request(api, family.parent, family.student)
    clock.advance(days=7, seconds=1)
    assert await links.expire_pending(hub_ctx) == 1
    event = await student.next("parent_link.expired")
    assert (event["id"], event["status"]) == (link["id"], "expired")
