"""The Socket.IO server of a hub process, its bus for the domain, and its background loops."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from uuid import UUID

import socketio

from hub.admission import Admission
from hub.bus import conversation_room, user_room
from hub.context import HubContext
from hub.presence.queries import announce
from hub.settings import Settings
from hub.sockets import engine_tuning, guards, pings
from hub.sockets.manager import HubManager
from hub.sockets.namespace import HubNamespace
from hub.sockets.proctor import ProctorNamespace

logger = logging.getLogger("dreamseed.sockets")


class SocketBus:
    """The domain's EventBus: rooms on whichever hub process holds the sockets."""

    def __init__(self, sio: socketio.AsyncServer, manager: HubManager) -> None:
        self._sio = sio
        self._manager = manager

    async def to_user(self, user_id: UUID, event: str, data: dict[str, Any]) -> None:
        await self._sio.emit(event, data, room=user_room(user_id))

    async def to_conversation(
        self, conversation_id: UUID, event: str, data: dict[str, Any]
    ) -> None:
        await self._sio.emit(event, data, room=conversation_room(conversation_id))

    async def to_room(self, namespace: str, room: str, event: str, data: dict[str, Any]) -> None:
        await self._sio.emit(event, data, room=room, namespace=namespace)

    async def join(self, user_id: UUID, conversation_id: UUID) -> None:
        await self._manager.join_user(str(user_id), conversation_room(conversation_id))

    async def leave(self, user_id: UUID, conversation_id: UUID) -> None:
        await self._manager.leave_user(str(user_id), conversation_room(conversation_id))

    async def disconnect_user(
        self, user_id: UUID, reason: str, session_id: UUID | None = None
    ) -> None:
        await self._manager.disconnect_user(
            str(user_id), reason, str(session_id) if session_id else None
        )


def create_server(
    settings: Settings, channel: str
) -> tuple[socketio.AsyncServer, HubNamespace, HubManager, ProctorNamespace]:
    engine_tuning.install()
    guards.install()
    manager = HubManager(
        settings.redis_dsn,
        channel,
        heartbeat_s=settings.bus_heartbeat_s,
        deaf_after_s=settings.bus_deaf_after_s,
    )
    manager.max_backlog = settings.socket_backlog_max
    sio = guards.GuardedServer(
        async_mode="asgi",
        client_manager=manager,
        cors_allowed_origins=settings.socketio_origins,
        transports=["websocket", "polling"],
        max_http_buffer_size=settings.max_body_bytes,
        serializer=(
            guards.GuardedMsgPackPacket
            if settings.socketio_serializer == "msgpack"
            else guards.GuardedPacket
        ),
    )
    pings.attach(sio.eio)
    namespace = HubNamespace()
    namespace.admission = Admission(limit=settings.max_in_flight)
    namespace.max_in_flight_per_connection = settings.max_in_flight_per_connection
    sio.register_namespace(namespace)
    proctor = ProctorNamespace()
    proctor.admission = namespace.admission
    proctor.max_in_flight_per_connection = settings.max_in_flight_per_connection
    sio.register_namespace(proctor)
    # Socket ids are unique across namespaces: ask whichever namespace holds the socket.
    manager.session_of = lambda sid: namespace.session_of(sid) or proctor.session_of(sid)
    return sio, namespace, manager, proctor


async def presence_loop(ctx: HubContext, namespace: HubNamespace) -> None:
    """Keep this process's sockets online and sweep processes that died."""
    interval = ctx.settings.presence_ttl_s / 4
    while True:
        try:
            now_ms = int(ctx.clock().timestamp() * 1000)
            sockets = {sid: c.actor.user_id for sid, c in namespace.connections.items()}
            await ctx.presence.refresh(sockets, now_ms)
            for user_id in await ctx.presence.sweep_dead_hosts(now_ms):
                await announce(ctx, user_id, online=False)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("presence loop failed; retrying")
        await asyncio.sleep(interval)
