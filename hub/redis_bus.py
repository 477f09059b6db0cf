"""An EventBus for processes without sockets (workers): publishes on the hubs' Redis channel.

Part of the core (the "Redis bus" of ARCHITECTURE.md), not of the Socket.IO transport: it
writes the format every hub's manager reads (python-socketio's emits, and our control
messages behind CONTROL_PREFIX), so a worker can reach clients without importing a transport.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from uuid import UUID

import socketio
from redis.asyncio import Redis

from hub.bus import conversation_room, user_room

# Control messages (join, leave, disconnect a user) share the emits' channel behind this prefix.
CONTROL_PREFIX = b"\x00dsctl:"


class RedisBus:
    def __init__(self, redis_url: str, channel: str) -> None:
        self._manager = socketio.AsyncRedisManager(redis_url, channel=channel, write_only=True)
        self._redis = Redis.from_url(redis_url)
        self._channel = channel
        self._origin = f"worker-{uuid.uuid4().hex}"

    async def to_user(self, user_id: UUID, event: str, data: dict[str, Any]) -> None:
        await self._manager.emit(event, data, room=user_room(user_id), namespace="/")

    async def to_conversation(
        self, conversation_id: UUID, event: str, data: dict[str, Any]
    ) -> None:
        await self._manager.emit(
            event, data, room=conversation_room(conversation_id), namespace="/"
        )

    async def to_room(self, namespace: str, room: str, event: str, data: dict[str, Any]) -> None:
        await self._manager.emit(event, data, room=room, namespace=namespace)

    async def join(self, user_id: UUID, conversation_id: UUID) -> None:
        await self._control(
            {"type": "join", "user": str(user_id), "room": conversation_room(conversation_id)}
        )

    async def leave(self, user_id: UUID, conversation_id: UUID) -> None:
        await self._control(
            {"type": "leave", "user": str(user_id), "room": conversation_room(conversation_id)}
        )

    async def disconnect_user(
        self, user_id: UUID, reason: str, session_id: UUID | None = None
    ) -> None:
        await self._control(
            {
                "type": "disconnect",
                "user": str(user_id),
                "reason": reason,
                "session": str(session_id) if session_id else None,
            }
        )

    async def _control(self, payload: dict[str, Any]) -> None:
        message = json.dumps({**payload, "origin": self._origin}).encode()
        await self._redis.publish(self._channel, CONTROL_PREFIX + message)

    async def close(self) -> None:
        await self._redis.aclose()
        # python-socketio's manager opens its publishing client on first use, never closes it.
        publisher = getattr(self._manager, "redis", None)
        if publisher is not None:
            await publisher.aclose()
