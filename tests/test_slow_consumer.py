"""A client that stops reading its socket is closed, not queued to without bound (issue 13)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect

from hub.bus import user_room
from tests.sockets import Client
from tests.support import Factory, User


@pytest.fixture
def small_backlog(hub_server: tuple[str, Any]) -> Iterator[Any]:
    """The hub's manager with a backlog limit of 50 packets for one test."""
    manager = hub_server[1].other_asgi_app.state.bus_manager
    original = getattr(manager, "max_backlog", None)
    manager.max_backlog = 50
    yield manager
    manager.max_backlog = original


async def test_a_client_that_stops_reading_is_closed(
    hub_server: tuple[str, Any],
    factory: Factory,
    connect: Callable[[User], Awaitable[Client]],
    small_backlog: Any,
) -> None:
    """A raw Socket.IO client that completes the handshake and then reads nothing is closed
    once its queue passes the limit; a client reading the same flood stays connected and
    gets all of it."""
    sio = hub_server[1].other_asgi_app.state.sio
    namespace = sio.namespace_handlers["/"]
    stalled, reading = await factory.user(), await factory.user()
    healthy = await connect(reading)
    url = hub_server[0].replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    # max_queue=1: the client library stops reading the TCP socket once one frame waits.
    async with ws_connect(url, max_queue=1, compression=None, close_timeout=0.1) as ws:
        assert str(await ws.recv()).startswith("0")  # engine.io open
        await ws.send("40" + json.dumps({"token": stalled.token}))
        connected = str(await ws.recv())
        assert connected.startswith("40"), connected
        sid = json.loads(connected[2:])["sid"]
        assert sid in namespace.connections
        payload = {"content": "x" * 4000}
        sent = 0
        while sid in namespace.connections and sent < 20_000:
            for user in (stalled, reading):
                await sio.emit("message.new", payload, room=user_room(user.id), ignore_queue=True)
            sent += 1
            await asyncio.sleep(0)  # let the writers run: a reading client keeps up
        assert sid not in namespace.connections, f"still connected after {sent} packets"
    assert healthy.sio.connected
    await sio.emit("moderation.notice", {"marker": sent}, room=user_room(reading.id))
    assert await healthy.next("moderation.notice", timeout=30) == {"marker": sent}
    assert healthy.queues["message.new"].qsize() == sent
