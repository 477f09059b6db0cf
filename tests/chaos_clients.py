"""The chaos runs' clients (tests/chaos.py): Socket.IO users who record what they receive and
catch up as the apps do, and students sitting a CAT over REST."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import socketio

from tests.support import User

RETRYABLE = {"unavailable", "rate_limited", "overloaded", "internal_error", "conflict"}


class Phased(Protocol):
    """What a client reports to: the phase now running and the error answers per phase."""

    phase: str
    errors: dict[str, Counter[str]]


async def _discard(sio: Any) -> None:
    """A client whose connect failed keeps its aiohttp session open: close it."""
    with contextlib.suppress(Exception):
        await sio.disconnect()
    http = getattr(sio.eio, "http", None)
    if http is not None and not http.closed:
        await http.close()


@dataclass
class Send:
    conversation: str
    phase: str
    acked_seq: int | None = None


@dataclass
class Peer:
    """One user's socket: records every message.new per connection, and catches up with
    `sync` when it (re)connects or the hub says `sync.required`, as the apps do."""

    user: User
    conversations: list[str]
    urls: list[str]
    got: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    live_dupes: int = 0
    live_out_of_order: int = 0
    syncs: int = 0
    connection: int = 0
    closing: bool = False
    sio: Any = None
    _seen: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def open(self) -> None:
        self.closing = False
        if self.sio is not None and not self.sio.connected:
            await _discard(self.sio)  # the connection a fault ended
        for attempt in range(10_000):
            url = self.urls[(self.connection + attempt) % len(self.urls)]
            sio = socketio.AsyncClient(reconnection=False)
            sio.on("message.new", self._on_message)
            sio.on("sync.required", self._on_sync_required)
            sio.on("disconnect", self._on_disconnect)
            try:
                await sio.connect(
                    url, auth={"token": self.user.token}, transports=["websocket"], wait_timeout=3
                )
            except (socketio.exceptions.ConnectionError, OSError):
                await _discard(sio)
                if self.closing:
                    return
                await asyncio.sleep(0.3)
                continue
            self.sio, self.connection = sio, self.connection + 1
            self._seen = defaultdict(list)
            await self.catch_up()
            return

    async def close(self) -> None:
        self.closing = True
        if self.sio is not None:
            await _discard(self.sio)

    @property
    def connected(self) -> bool:
        return self.sio is not None and bool(self.sio.connected)

    async def _on_message(self, data: dict[str, Any]) -> None:
        conv, seq = str(data["conversation_id"]), int(data["seq"])
        seen = self._seen[conv]
        if seq in seen:
            self.live_dupes += 1
        elif seen and seq < seen[-1]:
            self.live_out_of_order += 1  # two hubs publish concurrently; clients order by seq
        seen.append(seq)
        self.got[conv].add(seq)

    async def _on_sync_required(self, data: Any) -> None:
        asyncio.get_running_loop().create_task(self.catch_up())

    async def _on_disconnect(self, *args: Any) -> None:
        if not self.closing:
            asyncio.get_running_loop().create_task(self.open())

    def position(self, conv: str) -> int:
        seqs, n = self.got[conv], 0
        while n + 1 in seqs:
            n += 1
        return n

    async def catch_up(self) -> None:
        """Everything after the first gap of each conversation, page by page."""
        async with self._lock:
            deadline = time.monotonic() + 20  # then the next (re)connect tries again
            while time.monotonic() < deadline:
                if not self.connected:
                    return
                try:
                    reply = await self.sio.call(
                        "sync",
                        {"conversations": {c: self.position(c) for c in self.conversations}},
                        timeout=5,
                    )
                except (TimeoutError, socketio.exceptions.SocketIOError):
                    await asyncio.sleep(0.3)
                    continue
                if "error" in reply:
                    await asyncio.sleep(float(reply["error"].get("retry_after") or 0.3))
                    continue
                self.syncs += 1
                more = False
                for conv, entry in reply["conversations"].items():
                    for message in entry.get("messages", []):
                        self.got[conv].add(int(message["seq"]))
                    more = more or bool(entry.get("has_more"))
                if not more:
                    return

    async def send(
        self, conv: str, sends: dict[str, Send], phase: str, errors: Counter[str] | None = None
    ) -> None:
        """One message, retried with the same client_msg_id until acknowledged (30 s)."""
        cmid = str(uuid.uuid4())
        sends[cmid] = Send(conv, phase)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not self.connected:
                await asyncio.sleep(0.2)
                continue
            try:
                ack = await self.sio.call(
                    "message.send",
                    {"conversation_id": conv, "client_msg_id": cmid, "content": f"c {cmid[:8]}"},
                    timeout=5,
                )
            except (TimeoutError, socketio.exceptions.SocketIOError):
                await asyncio.sleep(0.2)
                continue
            if "error" in ack:
                if errors is not None:
                    errors[str(ack["error"].get("code"))] += 1
                if ack["error"].get("code") not in RETRYABLE:
                    return
                await asyncio.sleep(min(2.0, float(ack["error"].get("retry_after") or 0.3)))
                continue
            sends[cmid].acked_seq = int(ack["seq"])
            return


@dataclass
class Examinee:
    """A student sitting the CAT over REST, failing over between hubs; each answer is
    retried until the hub answers 201 (acknowledged) or says it was already stored."""

    user: User
    exam_id: str
    acked: list[tuple[str, str, str]] = field(default_factory=list)  # (attempt, item, phase)
    attempts: int = 0

    async def sit(self, urls: list[str], rig: Phased, rate: float) -> None:
        view: dict[str, Any] | None = None
        n = 0
        async with httpx.AsyncClient(timeout=5, headers=self.user.headers) as http:
            while True:
                base = f"{urls[n % len(urls)]}/api/v1"
                try:
                    if view is None or view["status"] != "active":
                        response = await http.post(f"{base}/exams/{self.exam_id}/attempts")
                        if response.status_code != 201:
                            raise _Retry
                        view, self.attempts = response.json(), self.attempts + 1
                    (question,) = view["questions"]
                    response = await http.post(
                        f"{base}/attempts/{view['id']}/answers",
                        json={"item_id": question["item_id"], "choice": 1},
                    )
                    if response.status_code == 201:
                        self.acked.append((view["id"], question["item_id"], rig.phase))
                        view = response.json()["attempt"]
                        await asyncio.sleep(1 / rate)
                    elif response.status_code == 409:  # stored by a try whose reply was lost
                        again = await http.get(f"{base}/attempts/{view['id']}")
                        view = again.json() if again.status_code == 200 else view
                    else:
                        rig.errors[rig.phase][f"answer HTTP {response.status_code}"] += 1
                        raise _Retry
                except (httpx.HTTPError, _Retry, KeyError, ValueError):
                    n += 1  # the other hub next
                    await asyncio.sleep(0.3)


class _Retry(Exception):
    pass
