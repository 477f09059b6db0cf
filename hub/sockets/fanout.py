"""Local delivery for the hub's manager, without python-socketio's per-recipient costs.

Measured costs of the stock AsyncManager (see PERF_NOTES.md beside the project):
* `emit` creates one asyncio Task per recipient and waits on all of them. Handing a packet to
  a socket is a put on an unbounded queue, so we do it in a plain loop instead.
* Leaving rooms on disconnect scans every room of the namespace (each socket has its own),
  which makes a mass disconnect O(N^2). We keep the reverse index sid -> rooms.
* Sockets being connected or disconnected are kept in lists (`in` and `remove` are O(N)),
  checked on every emit: during a mass disconnect that is O(N^2) again. We keep sets.
* engine.io's per-socket outgoing queue is unbounded: a client that stops reading its socket
  grows the hub's memory until the ping timeout drops it (~45 s). A socket whose queue (or
  direct backlog, hub/sockets/direct_socket.py) holds more than `max_backlog` packets is
  disconnected instead of queued to.

It also tells a subclass when a named room gains its first local socket or loses its last
(`room_opened` / `room_closed`): the bus (hub/sockets/manager.py) subscribes to a room's
channel only while this process holds a member. Pinned to python-socketio 5.x internals.
"""

from __future__ import annotations

import logging
from typing import Any

import socketio
from bidict import ValueDuplicationError
from engineio import packet as eio_packet
from socketio import packet

from hub import metrics
from hub.sockets.direct_socket import backlog_of, shared_frame, write_shared_frame

logger = logging.getLogger("dreamseed.sockets")


class LocalFanout(socketio.AsyncManager):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rooms_of: dict[tuple[str, str], set[Any]] = {}
        self.max_backlog = 1000

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        room = to or room
        if callback is not None or namespace not in self.rooms:
            # Callbacks need a packet per recipient: rare, keep the stock path.
            await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs
            )
            return
        args = list(data) if isinstance(data, tuple) else ([] if data is None else [data])
        skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        encoded = self.server.packet_class(
            packet.EVENT, namespace=namespace, data=[event, *args]
        ).encode()
        frames = [
            eio_packet.Packet(eio_packet.MESSAGE, p)
            for p in (encoded if isinstance(encoded, list) else [encoded])
        ]
        # A text event is framed once for every recipient that can take the bytes as they are.
        wire = (
            shared_frame(frames[0].encode()) if len(frames) == 1 and not frames[0].binary else None
        )
        laggards = []
        sockets = self.server.eio.sockets
        for sid, eio_sid in list(self.get_participants(namespace, room)):
            if sid in skip:
                continue
            socket = sockets.get(eio_sid)
            if socket is None:
                continue  # gone between the room lookup and now
            if wire is not None and write_shared_frame(socket, wire):
                continue
            if backlog_of(socket) > self.max_backlog:
                laggards.append(sid)
                continue
            # Straight to the socket (what `_send_eio_packet` ends in); each frame encodes
            # once and caches it, so the recipients share one encoding.
            for frame in frames:
                try:
                    await socket.send(frame)
                except Exception:  # a socket closing under us must not stop the others
                    logger.debug("dropped a frame to closing socket %s", sid)
        for sid in laggards:
            await self._drop_laggard(sid, namespace)

    async def _drop_laggard(self, sid: str, namespace: str) -> None:
        """A client that does not read: close it (it reconnects and syncs) rather than let its
        queue grow without bound."""
        metrics.SLOW_CONSUMERS.inc()
        logger.warning(
            "socket %s stopped reading (%d packets queued): closing it", sid, self.max_backlog
        )
        try:
            await self.server.disconnect(sid, namespace=namespace, ignore_queue=True)
        except Exception:
            logger.debug("closing slow socket %s failed", sid)

    async def pre_connect(self, eio_sid: Any, namespace: str) -> Any:
        sid = self.server.eio.generate_id()
        try:
            self.basic_enter_room(sid, namespace, None, eio_sid=eio_sid)
        except ValueDuplicationError:
            return None  # already connected
        self.basic_enter_room(sid, namespace, sid, eio_sid=eio_sid)
        self.pending_connect.setdefault(namespace, _SidSet()).append(sid)
        return sid

    def pre_disconnect(self, sid: str, namespace: str) -> Any:
        self.pending_disconnect.setdefault(namespace, _SidSet()).append(sid)
        return self.rooms[namespace][None].get(sid)

    def room_opened(self, room: str) -> None:
        """A named room (not a socket's own, not the namespace's) got its first local socket."""

    def room_closed(self, room: str) -> None:
        """A named room lost its last local socket."""

    def _held(self, namespace: str, room: Any) -> bool:
        return room in self.rooms.get(namespace, ())

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> None:
        opened = room is not None and room != sid and not self._held(namespace, room)
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self._rooms_of.setdefault((namespace, sid), set()).add(room)
        if opened:
            self.room_opened(room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        held = self._held(namespace, room)
        super().basic_leave_room(sid, namespace, room)
        rooms = self._rooms_of.get((namespace, sid))
        if rooms is not None:
            rooms.discard(room)
        if held and room is not None and room != sid and not self._held(namespace, room):
            self.room_closed(room)

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        rooms = self._rooms_of.pop((namespace, sid), set())
        for room in rooms:
            super().basic_leave_room(sid, namespace, room)
            if room is not None and room != sid and not self._held(namespace, room):
                self.room_closed(room)
        # The stock method finishes the bookkeeping; with the rooms already left, its scan
        # over every room of the namespace finds nothing, so skip it by clearing our view.
        self._finish_disconnect(sid, namespace)

    def _finish_disconnect(self, sid: str, namespace: str) -> None:
        if sid in self.callbacks:
            del self.callbacks[sid]
        for pending in (self.pending_connect, self.pending_disconnect):
            if namespace in pending and sid in pending[namespace]:
                pending[namespace].remove(sid)
                if not pending[namespace]:
                    del pending[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        return [r for r in self._rooms_of.get((namespace, sid), ()) if r is not None]


class _SidSet(dict[str, None]):
    """The list interface python-socketio uses for pending sockets, with O(1) operations."""

    def append(self, sid: str) -> None:
        self[sid] = None

    def remove(self, sid: str) -> None:
        del self[sid]
