"""How the domain tells connected clients about a change, without knowing Socket.IO.

The hub wires a Socket.IO-backed bus at start-up; workers wire a write-only one that goes
through Redis; tools that change data while nobody listens use NullBus.
"""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID


class EventBus(Protocol):
    async def to_user(self, user_id: UUID, event: str, data: dict[str, Any]) -> None: ...

    async def to_conversation(
        self, conversation_id: UUID, event: str, data: dict[str, Any]
    ) -> None: ...

    async def to_room(self, namespace: str, room: str, event: str, data: dict[str, Any]) -> None:
        """Emit to a room of another namespace (the proctoring rooms of `/proctor`)."""

    async def join(self, user_id: UUID, conversation_id: UUID) -> None:
        """Every live socket of the user, on every hub process, enters the conversation."""

    async def leave(self, user_id: UUID, conversation_id: UUID) -> None: ...

    async def disconnect_user(
        self, user_id: UUID, reason: str, session_id: UUID | None = None
    ) -> None:
        """Close the user's live sockets (of one session, if given) on every hub process."""


def user_room(user_id: UUID | str) -> str:
    return f"user:{user_id}"


def conversation_room(conversation_id: UUID | str) -> str:
    return f"conv:{conversation_id}"


PROCTOR_NAMESPACE = "/proctor"


def exam_room(exam_id: UUID | str) -> str:
    """The proctors (teachers) watching one exam, on PROCTOR_NAMESPACE."""
    return f"exam:{exam_id}"


def attempt_room(attempt_id: UUID | str) -> str:
    """The student's exam client(s) of one attempt, on PROCTOR_NAMESPACE."""
    return f"attempt:{attempt_id}"


class NullBus:
    """For tools (migrate, seed) that change data while nobody is listening."""

    async def to_user(self, user_id: UUID, event: str, data: dict[str, Any]) -> None:
        return None

    async def to_conversation(
        self, conversation_id: UUID, event: str, data: dict[str, Any]
    ) -> None:
        return None

    async def to_room(self, namespace: str, room: str, event: str, data: dict[str, Any]) -> None:
        return None

    async def join(self, user_id: UUID, conversation_id: UUID) -> None:
        return None

    async def leave(self, user_id: UUID, conversation_id: UUID) -> None:
        return None

    async def disconnect_user(
        self, user_id: UUID, reason: str, session_id: UUID | None = None
    ) -> None:
        return None
