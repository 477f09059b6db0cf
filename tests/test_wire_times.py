"""Times travel in one format: REST and socket payloads of the same message carry the same text."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from tests.sockets import Client
from tests.support import Factory, User, cmid


async def test_rest_and_socket_write_the_same_timestamp(
    api: httpx.AsyncClient, connect: Callable[[User], Awaitable[Client]], factory: Factory
) -> None:
    """A message's created_at is the same `…Z` string in the REST reply, the socket event, the
    socket ack and the REST history."""
    org = await factory.org()
    teacher, student = await factory.user("teacher", org), await factory.user("student", org)
    conv = await factory.conversation("group", org, [teacher], [student])
    watcher = await connect(teacher)
    posted = await api.post(
        f"/conversations/{conv}/messages",
        headers=student.headers,
        json={"client_msg_id": cmid(), "content": "숙제 냈어요"},
    )
    assert posted.status_code == 201, posted.text
    event = await watcher.next("message.new")
    assert event["created_at"] == posted.json()["created_at"]
    assert event["created_at"].endswith("Z")
    ack = await watcher.call(
        "message.send", {"conversation_id": str(conv), "client_msg_id": cmid(), "content": "네"}
    )
    history = await api.get(f"/conversations/{conv}/messages", headers=teacher.headers)
    assert [m["created_at"] for m in history.json()["items"]] == [
        posted.json()["created_at"],
        ack["created_at"],
    ]
