"""The default namespace: who a connection is, which rooms it is in, and its client events.

Connecting needs {"token": <access token>} as auth. A connection joins its user's room and
a room per conversation; its token must be renewed with `auth.refresh` before it expires,
or the hub says `auth.expired` and closes it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import socketio
from pydantic import BaseModel

from hub import metrics
from hub.admission import Admission, overloaded
from hub.bus import conversation_room, user_room
from hub.context import Actor, HubContext
from hub.errors import DomainError, ErrorCode, not_found
from hub.exams.policy import may_signal
from hub.presence.queries import announce
from hub.ratelimit import RateLimiter
from hub.sockets.handlers import EVENTS, dispatch, run_event
from hub.sockets.leases import Leases, refusal_of_session, verify_token
from hub.sockets.typing_relay import TypingRelay
from schema.models.chat import AuthRefresh, Typing

logger = logging.getLogger("dreamseed.sockets")
_CHATTY = frozenset({"message.typing", "presence.query", "sync"})
# Every client event of this namespace and the model its payload must fit: the fuzzers and the
# tenancy sweep are generated from it, so a new event is covered without anyone remembering.
CLIENT_EVENTS: dict[str, type[BaseModel]] = {
    **{name: spec.model for name, spec in EVENTS.items()},
    "message.typing": Typing,
    "auth.refresh": AuthRefresh,
}

# Everything a connection needs from PostgreSQL, in one round trip: its session row (the
# columns of LIVE_SESSION_SQL), its conversations (a room each) and its direct contacts (told
# when it goes offline). The function sets the acting user inside its own statement, so it
# runs alone, not in a transaction (migration 0016; row-level security applies).
_CONNECT_STATE = "SELECT * FROM app_connect_state($1, $2)"

# What stays of a websocket's handshake environ (see the end of `on_connect`).
_ENVIRON_KEPT = ("REMOTE_ADDR", "HTTP_USER_AGENT")


@dataclass
class Connection:
    actor: Actor
    # Direct contacts as of connecting: told when this user goes offline, without a query
    # per disconnect (a hub restart disconnects thousands at once).
    contacts: list[UUID] = field(default_factory=list)


class HubNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__("/")
        self._ctx: HubContext | None = None
        self.connections: dict[str, Connection] = {}
        self.typing: TypingRelay | None = None
        self.leases = Leases(self, lambda: self.ctx)
        self.chatter: RateLimiter | None = None
        # Shared with the REST middleware; create_server sizes it from the settings.
        self.admission = Admission(limit=512)
        self.max_in_flight_per_connection = 16

    def bind(self, ctx: HubContext) -> None:
        self._ctx = ctx
        self.typing = TypingRelay(self, ctx.settings.typing_ttl_s)

    def session_of(self, sid: str) -> str | None:
        conn = self.connections.get(sid)
        return str(conn.actor.session_id) if conn else None

    @property
    def ctx(self) -> HubContext:
        assert self._ctx is not None, "HubNamespace used before bind()"  # noqa: S101
        return self._ctx

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        claims = verify_token(self.ctx, auth)
        actor = Actor(claims.user_id, claims.session_id)
        async with self.ctx.db.pool.acquire() as db:
            state = await db.fetchrow(_CONNECT_STATE, claims.session_id, claims.user_id)
        refusal = refusal_of_session(state)
        if refusal is not None:
            raise refusal
        assert state is not None  # noqa: S101 - refusal_of_session refuses a missing row
        conn = Connection(actor)
        self.connections[sid] = conn
        await self.enter_room(sid, user_room(actor.user_id))
        for conversation_id in state["rooms"]:
            self.server.manager.basic_enter_room(sid, "/", conversation_room(conversation_id))
        # Presence and the bus each batch the sockets arriving together (a few ms): wait for
        # both at once. Connected means the other hubs' emits to these rooms reach the socket.
        came_online = asyncio.ensure_future(
            self.ctx.presence.connected(actor.user_id, sid, self._now_ms())
        )
        await self.server.manager.rooms_settled()
        self.leases.grant(sid, claims.expires_at.timestamp())
        metrics.SOCKETS.inc()
        conn.contacts = list(state["contacts"])
        if await came_online:
            await announce(self.ctx, actor.user_id, online=True, contacts=conn.contacts)
        if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            # engine.io keeps the handshake's WSGI-style environ for the connection's whole
            # life (~25 entries, the request's headers, and a body reader of a class it
            # defines per request); nothing reads it after this. Shrunk in place: engine.io's
            # frames and python-socketio hold this same dict.
            kept = {key: environ[key] for key in _ENVIRON_KEPT if key in environ}
            environ.clear()
            environ.update(kept)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self.connections.pop(sid, None)
        if conn is None:
            return
        metrics.SOCKETS.dec()
        self.leases.revoke(sid)
        if self.typing is not None:
            await self.typing.forget(sid, conn.actor.user_id)
        try:
            if await self.ctx.presence.disconnected(conn.actor.user_id, sid, self._now_ms()):
                await announce(self.ctx, conn.actor.user_id, online=False, contacts=conn.contacts)
        except Exception:
            logger.exception("presence update on disconnect failed")

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        sid, data = args[0], (args[1] if len(args) > 1 else None)
        conn = self.connections.get(sid)
        if conn is None:
            return {"error": {"code": "unauthenticated", "message": "Not connected"}}
        if event in _CHATTY and not self._chatter_allowed(sid, event):
            return await run_event(event, None, data, None, "", refused=self._too_chatty())
        # python-socketio starts a task per event whatever is already running: past the cap
        # the event is answered at once instead of queueing on the database pool.
        if not self.admission.try_enter(sid, self.max_in_flight_per_connection):
            return await run_event(event, None, data, None, "", refused=overloaded("socket"))
        try:
            return await self._run(sid, conn, event, data)
        finally:
            self.admission.leave(sid)

    async def _run(self, sid: str, conn: Connection, event: str, data: Any) -> Any:
        if event == "message.typing":
            return await self._typing(sid, conn, data)
        if event == "auth.refresh":
            return await self._refresh(sid, conn, data)
        return await dispatch(self.ctx, conn.actor, event, data)

    async def _typing(self, sid: str, conn: Connection, data: Any) -> dict[str, Any]:
        async def relay(body: Typing) -> dict[str, Any]:
            if conversation_room(body.conversation_id) not in self.rooms(sid):
                raise not_found("Conversation")
            if body.typing:  # the exam rule of messages holds for "is typing" too
                await may_signal(self.ctx, conn.actor.user_id, body.conversation_id)
            assert self.typing is not None  # noqa: S101
            await self.typing.update(sid, conn.actor.user_id, body.conversation_id, body.typing)
            return {"ok": True}

        return await run_event("message.typing", Typing, data, relay)

    async def _refresh(self, sid: str, conn: Connection, data: Any) -> dict[str, Any]:
        """Renew a long-lived connection's authorisation with a fresh access token."""
        conn.actor, ack = await self.leases.renew(sid, conn.actor, data)
        return ack

    def _chatter_allowed(self, sid: str, event: str) -> bool:
        """Typing, presence and sync cost a query or a fan-out each: a budget per connection,
        kept in this process (a connection lives on one hub), so no Redis round trip."""
        if self.chatter is None:
            self.chatter = RateLimiter(self.ctx.redis, self.ctx.settings.chatter_events_per_s, 1)
        return self.chatter.hit_locally(f"{sid}:{event}", self._now_ms()).allowed

    def _too_chatty(self) -> DomainError:
        metrics.RATE_LIMITED.labels("socket_chatter").inc()
        limit = self.ctx.settings.chatter_events_per_s
        return DomainError(
            ErrorCode.RATE_LIMITED, f"Too many events: at most {limit} a second", retry_after=1
        )

    def _now_ms(self) -> int:
        return int(self.ctx.clock().timestamp() * 1000)
