"""An answer in progress, kept where every hub can read it: a Redis stream per answer.

Each entry is one frame the student's devices were (or will be) sent:
  queued {position} · delta {attempt, offset, text} · drop {attempt, offset} ·
  done {message, usage, model, finish_reason, status} · error {code, message}
`offset` counts characters of the answer's visible text. A `drop` (the output filter caught
something and the answer starts again) says: keep the first `offset` characters, what follows
belongs to `attempt`. Replaying the entries gives the text so far, so a device that
reconnects to any hub asks for everything after its offset and then follows live frames,
ignoring what it already has: no gap, nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, cast
from uuid import UUID

from redis.asyncio import Redis

from hub.keys import RedisKeys

Frame = dict[str, Any]


@dataclass
class AnswerState:
    """What replaying an answer's stream gives."""

    attempt: int = 1
    text: str = ""
    position: int | None = None
    done: Frame | None = None
    error: Frame | None = None
    last_id: str = "0-0"
    entries: int = 0
    kinds: list[str] = field(default_factory=list)

    def apply(self, frame: Frame) -> None:
        kind = frame["kind"]
        self.entries += 1
        if kind == "delta":
            if frame["attempt"] != self.attempt or frame["offset"] != len(self.text):
                raise ValueError(f"answer stream out of order at entry {self.entries}")
            self.text += frame["text"]
            self.position = None
        elif kind == "drop":
            self.attempt = frame["attempt"]
            self.text = self.text[: frame["offset"]]
        elif kind == "queued":
            self.position = frame["position"]
        elif kind == "done":
            self.done = frame
        elif kind == "error":
            self.error = frame


class AnswerStreams:
    def __init__(self, redis: Redis, keys: RedisKeys, ttl_s: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_s = ttl_s

    async def append(self, answer_id: UUID, frames: list[Frame]) -> None:
        """Write frames in order and keep the stream for `ttl_s` after the last write."""
        key = self.keys.tutor_stream(answer_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            for frame in frames:
                pipe.xadd(key, {"f": json.dumps(frame, ensure_ascii=False)})
            pipe.expire(key, self.ttl_s)
            await pipe.execute()

    async def read(self, answer_id: UUID, after: str = "-") -> list[tuple[str, Frame]]:
        raw = await cast(
            "Awaitable[list[tuple[bytes, dict[bytes, bytes]]]]",
            self.redis.xrange(self.keys.tutor_stream(answer_id), min=after),
        )
        return [(i.decode(), json.loads(f[b"f"])) for i, f in raw]

    async def state(self, answer_id: UUID) -> AnswerState | None:
        """The answer so far; None when no stream exists (never started, or expired)."""
        entries = await self.read(answer_id)
        if not entries:
            return None
        state = AnswerState()
        for entry_id, frame in entries:
            state.apply(frame)
            state.last_id = entry_id
        return state

    async def follow(self, answer_id: UUID, last_id: str, block_ms: int) -> list[tuple[str, Frame]]:
        """Frames after `last_id`, waiting up to `block_ms` for the first (REST streaming)."""
        raw = await cast(
            "Awaitable[list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]]",
            self.redis.xread({self.keys.tutor_stream(answer_id): last_id}, block=block_ms),
        )
        if not raw:
            return []
        return [(i.decode(), json.loads(f[b"f"])) for i, f in raw[0][1]]

    async def expire(self, answer_id: UUID) -> None:
        await self.redis.expire(self.keys.tutor_stream(answer_id), self.ttl_s)


def replay_from(state: AnswerState, offset: int, attempt: int) -> tuple[int, str]:
    """(start offset, text) a device holding `offset` characters of `attempt` still needs."""
    if attempt != state.attempt:
        return 0, state.text  # it holds another attempt's text: everything again
    if offset > len(state.text):
        raise ValueError("offset past the end")
    return offset, state.text[offset:]
