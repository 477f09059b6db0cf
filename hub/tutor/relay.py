"""Frames of one answer on their way out: coalesced, written to the answer's Redis stream, then
emitted to the student's room (every device, on every hub) in the same order.

Tokens are coalesced: a frame goes at once when none went for `frame_ms`, otherwise when
`frame_chars` are waiting or the `frame_ms` since the last frame are up (the network and the
hubs pay per frame, not per token). One writer task per answer keeps the frames in order
while the model stream is read without waiting on Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any
from uuid import UUID

from hub.bus import EventBus
from hub.tutor.stream import AnswerStreams, Frame

EVENT_OF = {
    "delta": "tutor.delta",
    "drop": "tutor.drop",
    "queued": "tutor.queued",
    "error": "tutor.error",
    "done": "tutor.done",
}


def event_payload(answer_id: UUID, frame: Frame) -> dict[str, Any]:
    return {"answer_id": str(answer_id), **{k: v for k, v in frame.items() if k != "kind"}}


def merge_deltas(frames: list[Frame]) -> list[Frame]:
    """Deltas that queued up behind a slow write go out as one frame: under load, frames grow
    instead of the backlog (the writer's round trips pace them)."""
    merged: list[Frame] = []
    for frame in frames:
        last = merged[-1] if merged else None
        if (
            last is not None
            and frame["kind"] == "delta"
            and last["kind"] == "delta"
            and last["attempt"] == frame["attempt"]
            and last["offset"] + len(last["text"]) == frame["offset"]
        ):
            merged[-1] = {**last, "text": last["text"] + frame["text"]}
        else:
            merged.append(frame)
    return merged


class Relay:
    def __init__(
        self,
        streams: AnswerStreams,
        bus: EventBus,
        answer_id: UUID,
        user_id: UUID,
        frame_ms: int,
        frame_chars: int,
    ) -> None:
        self.streams, self.bus = streams, bus
        self.answer_id, self.user_id = answer_id, user_id
        self.frame_s, self.frame_chars = frame_ms / 1000, frame_chars
        self.attempt = 1
        self.offset = 0  # characters of the current attempt already framed
        self._pending = ""
        self._last_frame = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._outbox: list[Frame] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._writer = asyncio.create_task(self._write())

    @property
    def text_framed(self) -> int:
        return self.offset

    def add(self, text: str) -> None:
        """Text now safe to show; it goes out with the next frame."""
        if not text:
            return
        self._pending += text
        now = time.monotonic()
        if len(self._pending) >= self.frame_chars or now - self._last_frame >= self.frame_s:
            self.flush()
        elif self._timer is None:
            delay = self.frame_s - (now - self._last_frame)
            self._timer = asyncio.get_running_loop().call_later(delay, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        text, self._pending = self._pending, ""
        self._send({"kind": "delta", "attempt": self.attempt, "offset": self.offset, "text": text})
        self.offset += len(text)
        self._last_frame = time.monotonic()

    def drop(self) -> None:
        """The output filter refused this attempt: devices drop its text; the next begins."""
        self.flush()
        self.attempt += 1
        self.offset = 0
        self._send({"kind": "drop", "attempt": self.attempt, "offset": 0})

    def queued(self, position: int) -> None:
        self._send({"kind": "queued", "position": position})

    def error(self, code: str, message: str) -> None:
        self.flush()
        self._send({"kind": "error", "code": code, "message": message})

    def _send(self, frame: Frame) -> None:
        self._outbox.append(frame)
        self._wake.set()

    async def close(self) -> None:
        """Flush what is pending and wait until every frame is written and emitted."""
        self.flush()
        self._closing = True
        self._wake.set()
        await self._writer

    async def abort(self) -> None:
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer

    async def _write(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            frames, self._outbox = merge_deltas(self._outbox), []
            if frames:
                await self.streams.append(self.answer_id, frames)
                for frame in frames:
                    await self.bus.to_user(
                        self.user_id, EVENT_OF[frame["kind"]], event_payload(self.answer_id, frame)
                    )
            if self._closing and not self._outbox:
                return
