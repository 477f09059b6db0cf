"""A thin test client over python-socketio's AsyncClient: queues per event, acks as calls."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import socketio

EVENTS = (
    "message.new",
    "message.updated",
    "message.deleted",
    "message.read",
    "message.typing",
    "message.acknowledged",
    "user.online",
    "user.offline",
    "conversation.member_added",
    "conversation.member_removed",
    "auth.expired",
    "session.closed",
    "parent_link.requested",
    "report.resolved",
    "moderation.notice",
    "file.updated",
    "file.refused",
    "message.transcript",
    "tutor.delta",
    "tutor.drop",
    "tutor.queued",
    "tutor.error",
    "tutor.done",
    "sync.required",
    "conversation.admin_promoted",
)


class Refused(Exception):
    """The handshake was refused; `data` is what the server said."""

    def __init__(self, data: Any) -> None:
        super().__init__(str(data))
        self.data = data


class Client:
    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.queues: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        # tutor.* events in arrival order, across kinds (a device applies them in order).
        self.tutor: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.disconnected = asyncio.Event()
        for event in EVENTS:
            self.sio.on(event, self._recorder(event))
        self.sio.on("disconnect", lambda *args: self.disconnected.set())

    def _recorder(self, event: str) -> Any:
        async def record(data: Any) -> None:
            if event.startswith("tutor."):
                await self.tutor.put((event, data))
                return
            await self.queues[event].put(data)

        return record

    async def connect(self, url: str, token: str | None, auth: Any = None) -> Client:
        refusals: list[Any] = []
        self.sio.on("connect_error", refusals.append)
        try:
            await self.sio.connect(
                url,
                auth={"token": token} if token else auth,
                transports=["websocket"],
                wait_timeout=5,
            )
        except socketio.exceptions.ConnectionError:
            raise Refused(refusals[0] if refusals else None) from None
        return self

    async def call(self, event: str, data: Any, timeout: float = 10) -> Any:
        return await self.sio.call(event, data, timeout=timeout)

    async def next(self, event: str, timeout: float = 5) -> Any:
        return await asyncio.wait_for(self.queues[event].get(), timeout)

    async def drain(self, event: str, count: int, timeout: float = 10) -> list[Any]:
        return [await self.next(event, timeout) for _ in range(count)]

    def pending(self, event: str) -> int:
        return self.queues[event].qsize()

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
