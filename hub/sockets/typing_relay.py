"""'… is typing': relayed to the conversation, throttled, expiring by itself, never stored."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import UUID

from hub.bus import conversation_room


class TypingRelay:
    def __init__(self, namespace: Any, ttl_s: float) -> None:
        self._ns = namespace
        self.ttl_s = ttl_s
        # (sid, conversation) -> (last relayed "typing: true", timer that relays "false")
        self._active: dict[tuple[str, UUID], tuple[float, asyncio.TimerHandle]] = {}

    async def update(self, sid: str, user_id: UUID, conversation_id: UUID, typing: bool) -> None:
        key = (sid, conversation_id)
        current = self._active.pop(key, None)
        if current is not None:
            current[1].cancel()
        if not typing:
            if current is not None:
                await self._relay(sid, user_id, conversation_id, False)
            return
        now = time.monotonic()
        loop = asyncio.get_running_loop()
        timer = loop.call_later(
            self.ttl_s, lambda: loop.create_task(self._expire(sid, user_id, conversation_id))
        )
        # Throttle: a client repeating "typing" every keystroke is relayed once per half-TTL.
        relayed_at = current[0] if current is not None else 0.0
        if now - relayed_at >= self.ttl_s / 2:
            relayed_at = now
            await self._relay(sid, user_id, conversation_id, True)
        self._active[key] = (relayed_at, timer)

    async def _expire(self, sid: str, user_id: UUID, conversation_id: UUID) -> None:
        if self._active.pop((sid, conversation_id), None) is not None:
            await self._relay(sid, user_id, conversation_id, False)

    async def forget(self, sid: str, user_id: UUID) -> None:
        """A closing socket stops typing everywhere it was."""
        for key in [k for k in self._active if k[0] == sid]:
            _, timer = self._active.pop(key)
            timer.cancel()
            await self._relay(sid, user_id, key[1], False)

    async def _relay(self, sid: str, user_id: UUID, conversation_id: UUID, typing: bool) -> None:
        await self._ns.emit(
            "message.typing",
            {
                "conversation_id": str(conversation_id),
                "user_id": str(user_id),
                "typing": typing,
                "expires_in": self.ttl_s if typing else 0,
            },
            room=conversation_room(conversation_id),
            skip_sid=sid,
        )
