"""How the domain tells connected clients about a change, without knowing Socket.IO.

The hub wires a Socket.IO-backed bus at start-up; workers wire a write-only one that goes
through Redis; tests may wire a recording one.
"""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID


class EventBus(Protocol):
    async def to_user(self, user_id: UUID, event: str, data: dict[str, Any]) -> None: ...


def user_room(user_id: UUID) -> str:
    return f"user:{user_id}"


class NullBus:
    """For tools (migrate, seed) that change data while nobody is listening."""

    async def to_user(self, user_id: UUID, event: str, data: dict[str, Any]) -> None:
        return None
