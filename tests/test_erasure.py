"""Leaving the platform erases the account and its messages and closes its sockets."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import httpx

from tests.sockets import Client
from tests.support import PASSWORD, Factory, User, error_of

Connect = Callable[[User], Awaitable[Client]]


async def test_erase_account(connect: Connect, factory: Factory, api: httpx.AsyncClient) -> None:
    """Erasure scrubs the user, blanks their messages (seqs kept), revokes and disconnects."""
    org = await factory.org()
    teacher, student = await factory.user("teacher", org), await factory.user("student", org)
    conv = await factory.conversation("direct", org, [], [teacher, student])
    s, t = await connect(student), await connect(teacher)
    for text in ("제 전화번호는 010-1234-5678 이에요", "thanks"):
        ack = await s.call(
            "message.send",
            {"conversation_id": str(conv), "client_msg_id": uuid.uuid4().hex, "content": text},
        )
        assert "seq" in ack
    wrong = await api.request(
        "DELETE",
        "/users/me",
        headers=student.headers,
        json={"password": "nope", "confirm": "erase my account"},
    )
    assert wrong.status_code == 401 and error_of(wrong)["field"] == "password"
    unconfirmed = await api.request(
        "DELETE",
        "/users/me",
        headers=student.headers,
        json={"password": PASSWORD, "confirm": "yes"},
    )
    assert unconfirmed.status_code == 422
    done = await api.request(
        "DELETE",
        "/users/me",
        headers=student.headers,
        json={"password": PASSWORD, "confirm": "erase my account"},
    )
    assert done.status_code == 204, done.text
    assert (await s.next("session.closed"))["reason"] == "account_erased"
    await asyncio.wait_for(s.disconnected.wait(), 5)
    rows = await factory.fetch("SELECT seq, content, deleted_at FROM messages ORDER BY seq")
    assert [r["seq"] for r in rows] == [1, 2]
    assert all(r["content"] == "" and r["deleted_at"] is not None for r in rows)
    user = await factory.fetch(
        "SELECT email, display_name, deleted_at FROM users WHERE id = $1", student.id
    )
    assert user[0]["email"].startswith("erased-") and user[0]["deleted_at"] is not None
    login = await api.post("/auth/login", json={"email": student.email, "password": PASSWORD})
    assert login.status_code == 401
    assert (await api.get("/users/me", headers=student.headers)).status_code == 401
    page = await t.call("sync", {"conversations": {str(conv): 0}})
    assert [m["content"] for m in page["conversations"][str(conv)]["messages"]] == [None, None]
    assert await factory.fetchval("SELECT count(*) FROM audit_log WHERE action = 'user.erase'") == 1
