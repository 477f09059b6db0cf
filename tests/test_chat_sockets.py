"""The messenger over real Socket.IO connections to one hub process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from hub.context import HubContext
from tests.sockets import Client
from tests.support import Factory, Org, User

Connect = Callable[[User], Awaitable[Client]]


async def _class_room(factory: Factory) -> tuple[Org, User, list[User], Any]:
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    students = [await factory.user("student", org) for _ in range(2)]
    conv = await factory.conversation("group", org, [teacher], students)
    return org, teacher, students, conv


def _send(conv: Any, text: str, client_msg_id: str | None = None) -> dict[str, Any]:
    return {
        "conversation_id": str(conv),
        "client_msg_id": client_msg_id or uuid.uuid4().hex,
        "content": text,
        "message_type": "text",
    }


async def test_send_is_acked_and_delivered_once_to_every_member(
    connect: Connect, factory: Factory
) -> None:
    """message.send acks {id, seq, created_at}; each member's socket gets message.new once."""
    _, teacher, students, conv = await _class_room(factory)
    t, s1, s2 = [await connect(u) for u in (teacher, *students)]
    ack = await s1.call("message.send", _send(conv, "선생님, 질문 있어요"))
    assert set(ack) == {"id", "seq", "created_at"} and ack["seq"] == 1
    for client in (t, s1, s2):
        event = await client.next("message.new")
        assert event["id"] == ack["id"] and event["content"] == "선생님, 질문 있어요"
        assert event["sender_id"] == str(students[0].id)
    await asyncio.sleep(0)
    assert t.pending("message.new") == 0


async def test_retry_with_same_client_msg_id_stores_once(
    connect: Connect, factory: Factory
) -> None:
    """A resent message returns the first ack, stores nothing and broadcasts nothing new."""
    _, teacher, students, conv = await _class_room(factory)
    s1, t = await connect(students[0]), await connect(teacher)
    payload = _send(conv, "hello", "retry-1")
    first = await s1.call("message.send", payload)
    second = await s1.call("message.send", payload)
    assert first == second
    assert await factory.fetchval("SELECT count(*) FROM messages") == 1
    await t.next("message.new")
    other = await s1.call("message.send", _send(conv, "next"))
    assert (await t.next("message.new"))["id"] == other["id"]  # no duplicate in between


async def test_fifty_concurrent_senders_get_gap_free_seqs(
    connect: Connect, factory: Factory
) -> None:
    """50 sends at once from 10 sockets produce seqs 1..50, none missing, none twice."""
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    students = [await factory.user("student", org) for _ in range(10)]
    conv = await factory.conversation("group", org, [teacher], students)
    clients = [await connect(s) for s in students]
    acks = await asyncio.gather(
        *(
            c.call("message.send", _send(conv, f"m{i}-{j}"))
            for i, c in enumerate(clients)
            for j in range(5)
        )
    )
    assert sorted(a["seq"] for a in acks) == list(range(1, 51))
    watcher = await connect(teacher)
    state = await watcher.call("sync", {"conversations": {str(conv): 0}})
    assert [m["seq"] for m in state["conversations"][str(conv)]["messages"]] == list(range(1, 51))


async def test_bad_payloads_get_error_acks_and_change_nothing(
    connect: Connect, factory: Factory
) -> None:
    """Malformed, oversized, binary, unknown and other-tenant payloads are refused with codes."""
    _org, _teacher, students, conv = await _class_room(factory)
    other_org = await factory.org()
    outsider_conv = await factory.conversation(
        "group", other_org, [await factory.user("teacher", other_org)], []
    )
    s1 = await connect(students[0])
    before = await factory.snapshot()
    cases: list[tuple[str, Any, str]] = [
        ("message.send", None, "validation_error"),
        ("message.send", "text", "validation_error"),
        ("message.send", {"conversation_id": str(conv)}, "validation_error"),
        ("message.send", {**_send(conv, "x"), "conversation_id": "not-a-uuid"}, "validation_error"),
        ("message.send", _send(conv, "x" * 4001), "validation_error"),
        ("message.send", {**_send(conv, "x"), "content": b"\x00\x01binary"}, "validation_error"),
        ("message.send", {**_send(conv, "x"), "extra": 1}, "validation_error"),
        ("message.send", _send(uuid.uuid4(), "ghost"), "not_found"),
        ("message.send", _send(outsider_conv, "hi"), "not_found"),
        ("message.read", {"conversation_id": str(conv), "seq": 99}, "validation_error"),
        ("sync", {"conversations": {"nope": 1}}, "validation_error"),
        ("no.such.event", {}, "validation_error"),
    ]
    for event, data, code in cases:
        ack = await s1.call(event, data)
        assert ack["error"]["code"] == code, (event, data, ack)
        assert ack["error"]["message"]
    assert s1.sio.connected
    assert await factory.snapshot() == before


async def test_announcement_members_cannot_post(connect: Connect, factory: Factory) -> None:
    """Only an announcement's admins post; a member gets a forbidden ack."""
    org = await factory.org()
    teacher, parent = await factory.user("teacher", org), await factory.user("parent", org)
    conv = await factory.conversation("announcement", org, [teacher], [parent])
    p, t = await connect(parent), await connect(teacher)
    refused = await p.call("message.send", _send(conv, "can I reply?"))
    assert refused["error"]["code"] == "forbidden"
    ok = await t.call("message.send", _send(conv, "내일 시험 범위가 바뀌었습니다"))
    assert (await p.next("message.new"))["id"] == ok["id"]


async def test_edit_and_delete_are_broadcast(connect: Connect, factory: Factory) -> None:
    """message.edit and message.delete reach the others as message.updated / message.deleted."""
    _, teacher, students, conv = await _class_room(factory)
    s1, t = await connect(students[0]), await connect(teacher)
    ack = await s1.call("message.send", _send(conv, "typo"))
    await t.next("message.new")
    edited = await s1.call("message.edit", {"message_id": ack["id"], "content": "fixed"})
    assert edited["content"] == "fixed"
    assert (await t.next("message.updated"))["content"] == "fixed"
    refused = await t.call("message.edit", {"message_id": ack["id"], "content": "mine now"})
    assert refused["error"]["code"] == "forbidden"
    await t.call("message.delete", {"message_id": ack["id"]})  # the teacher is admin
    deleted = await s1.next("message.deleted")
    assert deleted["id"] == ack["id"] and deleted["seq"] == 1


async def test_read_watermark_moves_forward_only(connect: Connect, factory: Factory) -> None:
    """message.read by seq or by message_id advances; going back is refused; others hear it."""
    org = await factory.org()
    teacher, student = await factory.user("teacher", org), await factory.user("student", org)
    conv = await factory.conversation("direct", org, [], [teacher, student])
    t, s = await connect(teacher), await connect(student)
    acks = [await t.call("message.send", _send(conv, f"m{i}")) for i in range(3)]
    ok = await s.call("message.read", {"message_id": acks[1]["id"]})
    assert ok["seq"] == 2 and ok["unread_count"] == 1
    assert (await t.next("message.read")) == {
        "conversation_id": str(conv),
        "user_id": str(student.id),
        "seq": 2,
    }
    back = await s.call("message.read", {"conversation_id": str(conv), "seq": 1})
    assert back["error"]["code"] == "conflict"
    assert (
        await factory.fetchval(
            "SELECT last_read_seq FROM participants WHERE user_id = $1", student.id
        )
        == 2
    )


async def test_typing_is_relayed_and_expires_by_itself(connect: Connect, factory: Factory) -> None:
    """Typing reaches the others (not the typist), repeats are throttled, it expires alone."""
    _, teacher, students, conv = await _class_room(factory)
    s1, t = await connect(students[0]), await connect(teacher)
    for _ in range(5):
        assert await s1.call("message.typing", {"conversation_id": str(conv), "typing": True}) == {
            "ok": True
        }
    started = await t.next("message.typing")
    assert started["typing"] is True and started["user_id"] == str(students[0].id)
    stopped = await t.next("message.typing", timeout=3)  # typing_ttl_s is 0.5 in tests
    assert stopped["typing"] is False
    assert t.pending("message.typing") == 0 and s1.pending("message.typing") == 0
    assert await factory.fetchval("SELECT count(*) FROM messages") == 0
    stranger = await s1.call(
        "message.typing", {"conversation_id": str(uuid.uuid4()), "typing": True}
    )
    assert stranger["error"]["code"] == "not_found"


async def _send_within_limit(client: Client, payload: dict[str, Any]) -> Any:
    """Send as a client does: a `rate_limited` answer is waited out and the send repeated
    (a fast hub lets a tight loop of sends reach the per-user limit)."""
    while True:
        ack = await client.call("message.send", payload)
        if ack.get("error", {}).get("code") != "rate_limited":
            return ack
        await asyncio.sleep(ack["error"]["retry_after"])


async def test_reconnect_sync_returns_exactly_what_was_missed(
    connect: Connect, factory: Factory
) -> None:
    """A client away for 100 messages and an edit gets exactly those on sync, in pages."""
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    students = [await factory.user("student", org) for _ in range(10)]
    conv = await factory.conversation("group", org, [teacher], students)
    t, s = await connect(teacher), await connect(students[0])
    first = await t.call("message.send", _send(conv, "before you left"))
    await s.next("message.new")
    position = {"seq": 1, "change": 1}
    await s.close()
    senders = [await connect(u) for u in students[1:]]
    for i in range(100):
        ack = await _send_within_limit(senders[i % 9], _send(conv, f"missed {i}"))
        assert "seq" in ack, ack
    await t.call("message.edit", {"message_id": first["id"], "content": "edited while away"})
    back = await connect(students[0])
    got: list[dict[str, Any]] = []
    page = await back.call("sync", {"conversations": {str(conv): position}, "limit": 60})
    entry = page["conversations"][str(conv)]
    assert entry["has_more"] is True and entry["unread_count"] == 101
    assert [c["content"] for c in entry["changes"]] == ["edited while away"]
    got += entry["messages"]
    page = await back.call("sync", {"conversations": {str(conv): got[-1]["seq"]}, "limit": 60})
    got += page["conversations"][str(conv)]["messages"]
    assert page["conversations"][str(conv)]["has_more"] is False
    assert [m["seq"] for m in got] == list(range(2, 102))
    assert [m["content"] for m in got] == [f"missed {i}" for i in range(100)]
    future = await back.call("sync", {"conversations": {str(conv): 500}})
    assert future["conversations"][str(conv)]["error"]["code"] == "validation_error"


async def test_sync_of_an_up_to_date_client_answers_counters_and_a_change_only_lag(
    connect: Connect, factory: Factory
) -> None:
    """Up to date (the answer a whole class gets after a hub restart): no messages, the
    counters; behind by an edit only (its seq is current): exactly that edit."""
    _, teacher, students, conv = await _class_room(factory)
    t, s = await connect(teacher), await connect(students[0])
    ack = await t.call("message.send", _send(conv, "hello"))
    await s.next("message.new")
    state = await s.call("sync", {"conversations": {str(conv): {"seq": 1, "change": 1}}})
    entry = state["conversations"][str(conv)]
    assert entry["messages"] == [] and entry["changes"] == [] and entry["has_more"] is False
    assert (entry["last_seq"], entry["change_seq"], entry["unread_count"]) == (1, 1, 1)
    await t.call("message.edit", {"message_id": ack["id"], "content": "hello, class"})
    await s.next("message.updated")
    state = await s.call("sync", {"conversations": {str(conv): {"seq": 1, "change": 1}}})
    entry = state["conversations"][str(conv)]
    assert entry["messages"] == []
    assert [c["content"] for c in entry["changes"]] == ["hello, class"]
    assert entry["change_seq"] == 2


async def test_membership_changes_follow_live(
    connect: Connect, factory: Factory, api: httpx.AsyncClient
) -> None:
    """A participant added over REST starts receiving that conversation's messages at once."""
    org, teacher, _students, conv = await _class_room(factory)
    newcomer = await factory.user("student", org)
    n, t = await connect(newcomer), await connect(teacher)
    added = await api.post(
        f"/conversations/{conv}/participants",
        headers=teacher.headers,
        json={"user_ids": [str(newcomer.id)]},
    )
    assert added.status_code == 201, added.text
    assert (await n.next("conversation.member_added"))["user_id"] == str(newcomer.id)
    ack = await t.call("message.send", _send(conv, "welcome"))
    assert (await n.next("message.new"))["id"] == ack["id"]
    removed = await api.delete(
        f"/conversations/{conv}/participants/{newcomer.id}", headers=teacher.headers
    )
    assert removed.status_code == 204
    await n.next("conversation.member_removed")
    await t.call("message.send", _send(conv, "after you left"))
    await t.next("message.new")
    await t.next("message.new")
    assert n.pending("message.new") == 0


async def test_presence_online_offline_and_query(connect: Connect, factory: Factory) -> None:
    """Direct contacts hear user.online/offline; presence.query answers for visible users."""
    org = await factory.org()
    teacher, student = await factory.user("teacher", org), await factory.user("student", org)
    await factory.conversation("direct", org, [], [teacher, student])
    t = await connect(teacher)
    s_phone = await connect(student)
    assert (await t.next("user.online"))["user_id"] == str(student.id)
    s_laptop = await connect(student)  # a second device: no second "online"
    await s_phone.close()
    state = await t.call("presence.query", {"user_ids": [str(student.id)]})
    assert state["users"][str(student.id)]["online"] is True
    await s_laptop.close()
    offline = await t.next("user.offline")
    assert offline["user_id"] == str(student.id) and offline["last_seen"]
    assert t.pending("user.online") == 0
    state = await t.call("presence.query", {"user_ids": [str(student.id), str(uuid.uuid4())]})
    assert list(state["users"]) == [str(student.id)]
    assert state["users"][str(student.id)]["online"] is False


async def test_logout_closes_that_sessions_sockets(
    connect: Connect, factory: Factory, api: httpx.AsyncClient
) -> None:
    """Logging out closes the session's sockets (told why) and leaves other sessions alone."""
    user = await factory.user()
    other_session = await factory.user(email=None)
    sock = await connect(user)
    keep = await connect(other_session)
    assert (await api.post("/auth/logout", headers=user.headers)).status_code == 204
    assert (await sock.next("session.closed"))["reason"] == "logout"
    await asyncio.wait_for(sock.disconnected.wait(), 5)
    assert keep.sio.connected


async def test_expired_token_is_told_and_closed_unless_refreshed(
    connect: Connect, factory: Factory, hub_ctx: HubContext
) -> None:
    """auth.refresh extends a connection; without it the hub says auth.expired and closes."""
    from datetime import timedelta

    from hub.clock import utc_now
    from hub.tokens import TokenIssuer

    user = await factory.user()
    # exp is whole seconds, so a 3 s token lives 2–3 s: time to connect and refresh one.
    short = TokenIssuer(hub_ctx.settings.jwt_secret, 3)
    user.token = short.issue_access(user.id, user.session_id, utc_now())
    refreshed, lapsing = await connect(user), await connect(user)
    fresh = TokenIssuer(hub_ctx.settings.jwt_secret, 600).issue_access(
        user.id, user.session_id, utc_now()
    )
    ok = await refreshed.call("auth.refresh", {"access_token": fresh})
    assert ok["ok"] is True
    stranger = await factory.user()
    wrong = await refreshed.call("auth.refresh", {"access_token": stranger.token})
    assert wrong["error"]["code"] == "forbidden"
    assert (await lapsing.next("auth.expired", timeout=8))["code"] == "token_expired"
    await asyncio.wait_for(lapsing.disconnected.wait(), 5)
    assert refreshed.sio.connected
    assert timedelta(seconds=1) < timedelta(seconds=2)
