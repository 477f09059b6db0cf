"""Issue 13, found from outside: input the schema let through, methods a route lacks, and a
group left without an admin."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from hub.settings import Settings
from tests.sockets import Client
from tests.support import Factory, FrozenClock, User, error_of

Connect = Callable[[User], Awaitable[Client]]


# --- REST ----------------------------------------------------------------------------------


async def test_nul_anywhere_in_a_body_is_a_422(api: httpx.AsyncClient, factory: Factory) -> None:
    """A NUL in a consent's version (once a 500) is a 422 naming the rule; nothing stored."""
    user = await factory.user()
    before = await factory.snapshot()
    response = await api.post(
        "/consents",
        headers=user.headers,
        json={"kind": "marketing", "version": "v1\x00", "granted": True},
    )
    assert response.status_code == 422, response.text
    assert error_of(response)["code"] == "validation_error"
    assert "NUL" in error_of(response)["message"]
    assert await factory.snapshot() == before


async def test_a_number_is_not_a_date_time(api: httpx.AsyncClient, factory: Factory) -> None:
    """GET /notifications?before=0.5 is a 422 (pydantic read it as 1970); ISO text works."""
    user = await factory.user()
    for bad in ("0.5", "1700000000", "-1"):
        response = await api.get(f"/notifications?before={bad}", headers=user.headers)
        assert response.status_code == 422, bad
        assert error_of(response)["fields"][0]["field"] == "before"
    good = await api.get("/notifications?before=2026-03-01T09:00:00Z", headers=user.headers)
    assert good.status_code == 200, good.text


async def test_quiet_hours_match_their_declared_schema(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """quiet_start is declared as a local HH:MM[:SS] (not RFC 3339 `format: time`, which needs
    an offset) and what is returned matches that declaration."""
    user = await factory.user()
    saved = await api.put(
        "/users/me/notification-preferences",
        headers=user.headers,
        json={"quiet_start": "22:00", "quiet_end": "07:00"},
    )
    assert saved.status_code == 200, saved.text
    doc = (await api.get("/openapi.json")).json()
    declared = doc["components"]["schemas"]["NotificationPreferencesOut"]["properties"]
    schema = next(s for s in declared["quiet_start"]["anyOf"] if s.get("type") == "string")
    assert "format" not in schema
    assert re.match(schema["pattern"], saved.json()["quiet_start"])
    assert saved.json()["quiet_start"] == "22:00:00"


async def test_wrong_method_is_405_with_every_allowed_method(api: httpx.AsyncClient) -> None:
    """PUT on a POST-only route is 405; a path served by several endpoints lists all of
    their methods in Allow, and OPTIONS answers 204 with the same list."""
    put = await api.put("/auth/login", json={"email": "a@b.kr", "password": "x" * 8})
    assert put.status_code == 405
    assert put.headers["allow"] == "OPTIONS, POST"
    assert error_of(put)["code"] == "method_not_allowed"
    patch = await api.patch(f"/conversations/{uuid.uuid4()}")
    assert patch.status_code == 405
    assert patch.headers["allow"] == "DELETE, GET, HEAD, OPTIONS"
    options = await api.options("/conversations")
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    assert (await api.put("/no/such/route")).status_code == 404


async def test_the_last_admin_leaving_hands_the_group_on(
    api: httpx.AsyncClient, factory: Factory, connect: Connect
) -> None:
    """When a group's only admin leaves, the longest-standing member (not an observer)
    becomes admin and the room hears it; a group with another admin is left as it is."""
    org = await factory.org()
    admin, member, later = [await factory.user("teacher", org) for _ in range(3)]
    conversation = await factory.conversation("group", org, [admin], [member, later])
    await factory.fetch(
        "UPDATE participants SET joined_at = joined_at + interval '1 minute' WHERE user_id = $1",
        later.id,
    )
    watcher = await connect(later)
    left = await api.delete(f"/conversations/{conversation}", headers=admin.headers)
    assert left.status_code == 204, left.text
    roles = await factory.fetch(
        "SELECT user_id, role::text FROM participants WHERE left_at IS NULL ORDER BY role"
    )
    assert [(r["user_id"], r["role"]) for r in roles] == [
        (member.id, "admin"),
        (later.id, "member"),
    ]
    promoted = await watcher.next("conversation.admin_promoted")
    assert promoted == {"conversation_id": str(conversation), "user_id": str(member.id)}
    # `member` is admin now; `later` leaving changes no role.
    assert (await api.delete(f"/conversations/{conversation}", headers=later.headers)).is_success
    assert (
        await factory.fetchval("SELECT role::text FROM participants WHERE user_id = $1", member.id)
        == "admin"
    )


# --- sockets -------------------------------------------------------------------------------


async def _group(factory: Factory) -> tuple[User, uuid.UUID]:
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    return teacher, await factory.conversation("group", org, [teacher], [])


async def test_typing_must_be_a_real_bool(factory: Factory, connect: Connect) -> None:
    """typing: "true", "yes" or 1 is a validation error naming the field; true is accepted."""
    teacher, conversation = await _group(factory)
    client = await connect(teacher)
    for loose in ("true", "yes", 1):
        ack = await client.call(
            "message.typing", {"conversation_id": str(conversation), "typing": loose}
        )
        assert ack["error"]["code"] == "validation_error", loose
        assert ack["error"]["fields"][0]["field"] == "typing"
    ok = await client.call("message.typing", {"conversation_id": str(conversation), "typing": True})
    assert ok == {"ok": True}


async def test_invisible_or_typeless_messages_are_refused(
    factory: Factory, connect: Connect
) -> None:
    """Only invisible characters, or an image with no attachment, is refused; nothing stored."""
    teacher, conversation = await _group(factory)
    client = await connect(teacher)
    before = await factory.snapshot()
    for n, body in enumerate(
        (
            {"content": "\u202e\u200b\ufeff"},
            {"content": " \u3164\u2060 "},
            {"content": "a picture", "message_type": "image"},
        )
    ):
        ack = await client.call(
            "message.send",
            {"conversation_id": str(conversation), "client_msg_id": f"bad-{n}", **body},
        )
        assert ack["error"]["code"] == "validation_error", body
    assert await factory.snapshot() == before
    fine = await client.call(
        "message.send",
        {"conversation_id": str(conversation), "client_msg_id": "ok", "content": "\u200bhi"},
    )
    assert "seq" in fine, fine


async def test_typing_presence_and_sync_have_a_budget(
    factory: Factory, connect: Connect, clock: FrozenClock, settings: Settings
) -> None:
    """Past chatter_events_per_s in one instant each of typing, presence and sync is
    rate_limited with retry_after; the budget refills with time; sending is unaffected."""
    teacher, conversation = await _group(factory)
    client = await connect(teacher)
    calls: dict[str, Any] = {
        "message.typing": {"conversation_id": str(conversation), "typing": False},
        "presence.query": {"user_ids": [str(teacher.id)]},
        "sync": {"conversations": {}},
    }
    for event, data in calls.items():
        acks = [await client.call(event, data) for _ in range(settings.chatter_events_per_s + 1)]
        assert all("error" not in a for a in acks[:-1]), (event, acks)
        assert acks[-1]["error"]["code"] == "rate_limited", event
        assert acks[-1]["error"]["retry_after"] >= 1
    sent = await client.call(
        "message.send",
        {"conversation_id": str(conversation), "client_msg_id": "after", "content": "hi"},
    )
    assert "seq" in sent, sent
    clock.advance(seconds=1)
    assert "error" not in await client.call("sync", calls["sync"])
