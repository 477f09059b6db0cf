"""The Socket.IO server: authenticates connections and gives each user a room.

Events between hub processes travel through python-socketio's Redis manager. The domain
never sees this module: it publishes through `SocketBus`, wired at start-up.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import socketio

from hub import metrics
from hub.accounts.sessions import is_session_revoked
from hub.bus import user_room
from hub.context import HubContext
from hub.errors import DomainError, ErrorCode

logger = logging.getLogger("dreamseed.sockets")


class SocketBus:
    """The domain's EventBus, delivering to a user's room on whichever process holds it."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def to_user(self, user_id: UUID, event: str, data: dict[str, Any]) -> None:
        await self._sio.emit(event, data, room=user_room(user_id))


class HubNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """The default namespace. Connecting needs {"token": <access token>} as auth."""

    def __init__(self) -> None:
        super().__init__("/")
        self._ctx: HubContext | None = None

    def bind(self, ctx: HubContext) -> None:
        self._ctx = ctx

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        assert self._ctx is not None, "HubNamespace used before bind()"  # noqa: S101
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise _refuse(ErrorCode.UNAUTHENTICATED, "Send {'token': <access token>} as auth")
        try:
            claims = self._ctx.tokens.verify_access(token)
        except DomainError as exc:
            raise _refuse(exc.code, exc.message) from None
        if await is_session_revoked(self._ctx, claims.session_id):
            raise _refuse(ErrorCode.SESSION_REVOKED, "This session has been signed out")
        await self.save_session(sid, {"user_id": claims.user_id, "session_id": claims.session_id})
        await self.enter_room(sid, user_room(claims.user_id))


def _refuse(code: ErrorCode, message: str) -> Exception:
    """The client's connect_error carries {"message": ..., "data": {"code": ...}}."""
    metrics.ERRORS.labels("socket", str(code)).inc()
    refusal: Exception = socketio.exceptions.ConnectionRefusedError(message, {"code": str(code)})
    return refusal


def create_server(redis_url: str, channel: str) -> tuple[socketio.AsyncServer, HubNamespace]:
    manager = socketio.AsyncRedisManager(redis_url, channel=channel)
    sio = socketio.AsyncServer(
        async_mode="asgi",
        client_manager=manager,
        cors_allowed_origins=[],
        transports=["websocket", "polling"],
        max_http_buffer_size=1_000_000,
    )
    namespace = HubNamespace()
    sio.register_namespace(namespace)
    return sio, namespace
