"""Websockets written without engine.io's writer task, a room framed once, one ping clock.

hub/sockets/direct_socket.py and hub/sockets/pings.py replace parts of python-engineio's
per-socket machinery (issue 12): these tests hold them to what the stock code promised —
every packet arrives, in order, a server-side disconnect ends the connection, a silent
client is closed — against the in-process hub over real sockets, and against fakes of
engine.io's socket where the point is the order of events in one tick.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from engineio import packet
from websockets.asyncio.client import connect as ws_connect

from hub.bus import user_room
from hub.sockets import direct_socket
from hub.sockets.pings import PingClock
from tests.sockets import Client
from tests.support import Factory, User


async def test_a_room_event_is_framed_once_and_reaches_every_member_in_order(
    hub_server: tuple[str, Any],
    factory: Factory,
    connect: Callable[[User], Awaitable[Client]],
) -> None:
    sio = hub_server[1].other_asgi_app.state.sio
    users = [await factory.user() for _ in range(3)]
    clients = [await connect(user) for user in users]
    room = "test:shared-frames"
    namespace = sio.namespace_handlers["/"]
    for user in users:
        for sid, _ in list(sio.manager.get_participants("/", user_room(user.id))):
            await namespace.enter_room(sid, room)
    before = direct_socket.shared_writes
    for n in range(20):
        await sio.emit("moderation.notice", {"n": n, "text": "ü" * n}, room=room)
    for client in clients:
        got = await client.drain("moderation.notice", 20)
        assert got == [{"n": n, "text": "ü" * n} for n in range(20)]
    assert direct_socket.shared_writes - before == 60  # every delivery took the shared frame


async def test_a_server_side_disconnect_closes_the_websocket(
    hub_server: tuple[str, Any], factory: Factory
) -> None:
    """The client gets engine.io's CLOSE and then the websocket's own close, without having
    to close it itself (stock engine.io waits for the client)."""
    sio = hub_server[1].other_asgi_app.state.sio
    namespace = sio.namespace_handlers["/"]
    user = await factory.user()
    url = hub_server[0].replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    async with ws_connect(url, compression=None) as ws:
        assert str(await ws.recv()).startswith("0")
        await ws.send("40" + json.dumps({"token": user.token}))
        sid = json.loads(str(await ws.recv())[2:])["sid"]
        assert sid in namespace.connections
        await sio.disconnect(sid)
        frames = []
        async for frame in ws:  # ends when the server closes the websocket
            frames.append(str(frame))
        assert frames[-1] == "1", frames  # engine.io CLOSE, last
        assert ws.close_code == 1000
    assert sid not in namespace.connections


class _StalledWebsocket:
    """engine.io's websocket wrapper, whose client has stopped reading until `resume`."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.resume = asyncio.Event()

    async def send(self, text: str) -> None:
        if not self.sent:
            self.sent.append(text)
            await self.resume.wait()  # the first write waits for the client
            return
        self.sent.append(text)


class _Socket:
    def __init__(self, ws: _StalledWebsocket) -> None:
        self.sid = "s1"
        self.closed = self.closing = False
        self.direct_ws, self.direct_busy, self.direct_backlog = ws, False, None
        self.direct_proto = object()  # would take shared frames, but for its pending write


async def test_packets_sent_while_a_write_waits_keep_their_order() -> None:
    ws = _StalledWebsocket()
    socket = _Socket(ws)
    first = asyncio.ensure_future(direct_socket._write(socket, ws, "a"))
    await asyncio.sleep(0)
    assert socket.direct_busy
    await direct_socket._write(socket, ws, "b")  # queued behind "a", returns at once
    assert not direct_socket.write_shared_frame(socket, b"frame")  # must not overtake
    await direct_socket._write(socket, ws, "c")
    assert direct_socket.backlog_of(socket) == 2
    ws.resume.set()
    await first
    assert ws.sent == ["a", "b", "c"]
    assert not socket.direct_busy and direct_socket.backlog_of(socket) == 0


class _EngineServer:
    class reason:  # engine.io names it so
        PING_TIMEOUT = "ping timeout"

    def __init__(self) -> None:
        self.ping_interval = 0.0  # due at once: the tick is what is under test
        self.ping_timeout = 20.0
        self.sockets: dict[str, Any] = {}


class _PingedSocket:
    def __init__(self, sid: str) -> None:
        self.sid = sid
        self.closed = self.closing = False
        self.last_ping: float | None = None
        self.sent: list[int] = []
        self.closed_for: Any = None

    async def send(self, pkt: packet.Packet) -> None:
        self.sent.append(pkt.packet_type)

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        self.closed, self.closed_for = True, reason


async def test_the_ping_clock_pings_and_closes_only_the_silent() -> None:
    server = _EngineServer()
    clock = PingClock(server, tick_s=3600)  # ticks by hand below
    answering, silent, gone = _PingedSocket("a"), _PingedSocket("b"), _PingedSocket("c")
    for socket in (answering, silent, gone):
        clock.schedule(socket)
    gone.closed = True
    await clock.tick()
    assert answering.sent == silent.sent == [packet.PING] and gone.sent == []
    answering.last_ping = None  # its PONG (engine.io's receive clears it)
    server.ping_timeout = -1.0  # every ping sent so far is now overdue
    await clock.tick()
    assert silent.closed and silent.closed_for == "ping timeout"
    assert not answering.closed
    server.ping_timeout = 20.0
    clock.schedule(answering)  # what receiving the PONG also did: the next ping
    await clock.tick()
    assert not answering.closed and answering.sent == [packet.PING, packet.PING]
    await clock.stop()
