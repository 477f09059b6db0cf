"""An EventBus for processes without sockets (workers): publishes on the hubs' Redis channels.

Part of the core (the "Redis bus" of ARCHITECTURE.md), not of the Socket.IO transport: it
writes the frames every hub's manager reads (hub/bus_frames.py), on the channel of the room
it addresses, so only the hubs holding a member of that room hear it.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from hub import bus_frames as frames
from hub.bus import conversation_room, user_room


class RedisBus:
    def __init__(self, redis_url: str, channel: str) -> None:
        self._redis = Redis.from_url(redis_url)
        self._channel = channel
        self._origin = frames.origin_of(uuid.uuid4().hex)

    async def to_user(self, user_id: UUID, event: str, data: dict[str, Any]) -> None:
        await self._emit("/", user_room(user_id), event, data)

    async def to_conversation(
        self, conversation_id: UUID, event: str, data: dict[str, Any]
    ) -> None:
        await self._emit("/", conversation_room(conversation_id), event, data)

    async def to_room(self, namespace: str, room: str, event: str, data: dict[str, Any]) -> None:
        await self._emit(namespace, room, event, data)

    async def join(self, user_id: UUID, conversation_id: UUID) -> None:
        await self._control(
            frames.Control("join", str(user_id), room=conversation_room(conversation_id))
        )

    async def leave(self, user_id: UUID, conversation_id: UUID) -> None:
        await self._control(
            frames.Control("leave", str(user_id), room=conversation_room(conversation_id))
        )

    async def disconnect_user(
        self, user_id: UUID, reason: str, session_id: UUID | None = None
    ) -> None:
        session = str(session_id) if session_id else None
        await self._control(
            frames.Control("disconnect", str(user_id), reason=reason, session=session)
        )

    async def _emit(self, namespace: str, room: str, event: str, data: dict[str, Any]) -> None:
        frame = frames.encode_emit(self._origin, frames.Emit(namespace, room, event, [data]))
        await self._redis.publish(frames.room_channel(self._channel, room), frame)

    async def _control(self, control: frames.Control) -> None:
        channel = frames.room_channel(self._channel, user_room(control.user))
        await self._redis.publish(channel, frames.encode_control(self._origin, control))

    async def close(self) -> None:
        await self._redis.aclose()
