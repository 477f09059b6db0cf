"""The Socket.IO server beside the REST routes: JWT on connect, events to the user's room."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import socketio

from tests.support import Factory, User

Connect = Callable[[User | None, Any], Awaitable[socketio.AsyncClient]]


class Refused(Exception):
    """The handshake was refused; `data` is what the server said."""

    def __init__(self, data: Any) -> None:
        super().__init__(str(data))
        self.data = data


@pytest.fixture
async def connect(hub_server: tuple[str, Any], clean: None) -> AsyncIterator[Connect]:
    clients: list[socketio.AsyncClient] = []

    async def open_client(user: User | None, auth: Any = None) -> socketio.AsyncClient:
        client = socketio.AsyncClient(reconnection=False)
        clients.append(client)
        refusals: list[Any] = []
        client.on("connect_error", refusals.append)
        try:
            await client.connect(
                hub_server[0],
                auth=auth if user is None else {"token": user.token},
                transports=["websocket"],
                wait_timeout=5,
            )
        except socketio.exceptions.ConnectionError:
            raise Refused(refusals[0] if refusals else None) from None
        return client

    yield open_client
    for client in clients:
        if client.connected:
            await client.disconnect()


async def test_valid_token_connects(connect: Connect, factory: Factory) -> None:
    """A signed-in user's socket connects over a real websocket."""
    client = await connect(await factory.user(), None)
    assert client.connected


@pytest.mark.parametrize("auth", [None, {}, {"token": "garbage"}, {"token": 42}, "token"])
async def test_bad_auth_is_refused(connect: Connect, auth: Any) -> None:
    """Missing, malformed or forged tokens are refused at the handshake with a code."""
    with pytest.raises(Refused) as refused:
        await connect(None, auth)
    assert refused.value.data["data"]["code"] in ("unauthenticated", "token_invalid")
    assert refused.value.data["message"]


async def test_revoked_session_cannot_connect(
    connect: Connect, factory: Factory, api: httpx.AsyncClient
) -> None:
    """After logout, the same access token no longer opens a socket."""
    user = await factory.user()
    assert (await api.post("/auth/logout", headers=user.headers)).status_code == 204
    with pytest.raises(Refused) as refused:
        await connect(user, None)
    assert refused.value.data["data"]["code"] == "session_revoked"


async def test_link_request_reaches_the_students_socket(
    connect: Connect, factory: Factory, api: httpx.AsyncClient
) -> None:
    """A parent's link request is pushed live to the student's connected device."""
    org = await factory.org()
    student = await factory.user("student", org)
    parent = await factory.user()
    client = await connect(student, None)
    received: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    client.on("parent_link.requested", lambda data: received.set_result(data))
    response = await api.post(
        "/parent/link-student", headers=parent.headers, json={"student_email": student.email}
    )
    assert response.status_code == 202, response.text
    event = await asyncio.wait_for(received, timeout=5)
    assert event == {
        "id": str(await factory.fetchval("SELECT id FROM parent_links")),
        "parent_id": str(parent.id),
        "student_id": str(student.id),
        "status": "pending",
    }
