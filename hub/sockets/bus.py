"""An EventBus for processes without sockets (workers): emits through the hubs' Redis channel."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import socketio

from hub.bus import user_room


class RedisBus:
    def __init__(self, redis_url: str, channel: str) -> None:
        self._manager = socketio.AsyncRedisManager(redis_url, channel=channel, write_only=True)

    async def to_user(self, user_id: UUID, event: str, data: dict[str, Any]) -> None:
        await self._manager.emit(event, data, room=user_room(user_id), namespace="/")
