"""Websocket connections without engine.io's per-socket writer task and per-read tasks.

Stock python-engineio (4.x) runs every websocket with:

* a writer task that waits on the socket's queue and writes what it finds: each packet sent is
  a queue put, a wake-up of that task and two loop hops before the frame is written (the
  largest per-delivery cost in a busy room, PERF_NOTES.md);
* a reader loop that wraps every read in a new task and an `asyncio.wait_for` with a timer,
  only to notice a dead client, which the ping clock (hub/sockets/pings.py) and uvicorn's
  websocket keepalive notice anyway.

Here a connection that opens as a websocket (every client of ours: `transport=websocket`)
writes each packet straight to the websocket from the coroutine that sends it, and reads
with a plain await. A write that must wait (the client reads slower than we write and
uvicorn paused writing) parks the packets sent meanwhile in the socket's backlog, which that
same write then drains, so packets keep their order without a task. Connections that start
with long-polling and upgrade keep the stock path.

When the server closes such a socket (a disconnect, a ping timeout), it also closes the
websocket after the engine.io CLOSE packet, instead of leaving that to the client.

Pinned to python-engineio 4.x; the replaced methods are fingerprinted in
tests/test_upstream_contract.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from engineio import exceptions, packet
from engineio.async_socket import AsyncSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

logger = logging.getLogger("dreamseed.sockets")

# Frames written by `write_shared_frame` since start (tests and benchmarks read it).
shared_writes = 0

_stock_handler = AsyncSocket._websocket_handler
_stock_send = AsyncSocket.send
_stock_close = AsyncSocket.close


class _NoQueue:
    """What a direct socket has for engine.io's queue: always empty, and loud if anything
    still tries to queue to it (every path that would is replaced above)."""

    def empty(self) -> bool:
        return True

    def qsize(self) -> int:
        return 0

    def get_nowait(self) -> Any:
        raise asyncio.QueueEmpty()

    def put_nowait(self, item: Any) -> None:
        raise RuntimeError("a direct websocket socket has no queue")

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    async def join(self) -> None:
        return None


NO_QUEUE = _NoQueue()


def shared_frame(text: str) -> bytes:
    """A server's websocket text frame, the same bytes for every recipient (unmasked, no
    extension): a room's packet is framed once, not once per member."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])


def write_shared_frame(socket: Any, frame: bytes) -> bool:
    """Write a frame from `shared_frame` straight to the socket's transport, when nothing of
    this socket waits to be written before it; False when the caller must `send` instead.

    Only for uvicorn's websockets-sansio protocol with no extension negotiated (the hub runs
    without per-message deflate, whose frames differ per connection): the frame bypasses its
    websockets state machine, which tracks nothing for whole outgoing data frames."""
    proto = getattr(socket, "direct_proto", None)
    if proto is None or socket.direct_busy or socket.direct_backlog or socket.closed:
        return False
    if (
        proto.close_sent
        or proto.disconnected
        or not proto.writable.is_set()
        or proto.conn.state is not State.OPEN
    ):
        return False
    proto.transport.write(frame)
    global shared_writes
    shared_writes += 1
    return True


def _frame_writer(ws: Any) -> Any | None:
    """The uvicorn protocol behind engine.io's websocket wrapper, if frames may be written to
    it directly (see `write_shared_frame`)."""
    proto = getattr(getattr(ws, "asgi_send", None), "__self__", None)
    if isinstance(proto, WebSocketsSansIOProtocol) and not proto.conn.extensions:
        return proto
    return None


def backlog_of(socket: Any) -> int:
    """Packets this socket has not written yet (its queue, or a direct socket's backlog)."""
    ws = getattr(socket, "direct_ws", None)
    if ws is None:
        return int(socket.queue.qsize())
    backlog = socket.direct_backlog
    return len(backlog) if backlog is not None else 0


async def _send(self: Any, pkt: Any) -> None:
    ws = getattr(self, "direct_ws", None)
    if ws is None:
        await _stock_send(self, pkt)
        return
    if self.closed:  # as the stock method does: the caller learns the socket is gone
        raise exceptions.SocketIsClosedError()
    await _write(self, ws, pkt.encode())


async def _write(socket: Any, ws: Any, text: str | bytes) -> None:
    if socket.direct_busy:
        # A write of this socket is waiting for the client: queue behind it, in order.
        backlog = socket.direct_backlog
        if backlog is None:
            backlog = socket.direct_backlog = deque()
        backlog.append(text)
        return
    socket.direct_busy = True
    try:
        await ws.send(text)
        backlog = socket.direct_backlog
        while backlog:
            await ws.send(backlog.popleft())
    except Exception as exc:
        # The websocket is gone; its reader sees that and closes the engine.io socket.
        logger.debug("write to closed websocket of %s failed (%s)", socket.sid, exc)
        if socket.direct_backlog:
            socket.direct_backlog.clear()
    finally:
        socket.direct_busy = False


async def _close(self: Any, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
    was_open = not self.closed and not self.closing
    await _stock_close(self, wait=wait, abort=abort, reason=reason)
    ws = getattr(self, "direct_ws", None)
    if was_open and ws is not None and not abort:
        # We end this connection (the stock server waits for the client to close it).
        await ws.close()


async def _websocket_handler(self: Any, ws: Any) -> None:
    if self.connected:
        # Upgraded from long-polling: the stock handler and its writer.
        await _stock_handler(self, ws)
        return
    self.connected = True
    self.upgraded = True
    # What was sent before the websocket was ours (the OPEN packet) goes first, in order.
    queued: list[str | bytes] = []
    while not self.queue.empty():
        pkt = self.queue.get_nowait()
        self.queue.task_done()
        if pkt is not None:
            queued.append(pkt.encode())
    # The queue's four deques and event are ~2.5 kB a connection, unused from here on.
    self.queue = NO_QUEUE
    self.direct_busy = False
    self.direct_backlog = deque(queued[1:]) if len(queued) > 1 else None
    self.direct_proto = _frame_writer(ws)
    self.direct_ws = ws
    if queued:
        await _write(self, ws, queued[0])
    max_size = self.server.max_http_buffer_size
    while True:
        try:
            data = await ws.wait()
        except asyncio.CancelledError:
            break  # the server is stopping
        except Exception:
            break  # the client went away (an ASGI disconnect is an OSError here)
        if data is None or len(data) > max_size:
            break
        try:
            await self.receive(packet.Packet(encoded_packet=data))
        except exceptions.UnknownPacketError:
            pass
        except exceptions.SocketIsClosedError:
            break
        except Exception:
            logger.exception("unexpected error handling a packet of %s", self.sid)
    await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
    await ws.close()


def install() -> None:
    AsyncSocket._websocket_handler = _websocket_handler
    AsyncSocket.send = _send
    AsyncSocket.close = _close
