"""The `/proctor` namespace: students' exam clients and teachers' proctoring dashboards.

Connect with {"token", "attempt_id"} as an exam client (the student's own attempt in
progress: the socket enters the attempt's room) or with {"token", "exam_id"} as a proctor
(staff of the exam's organization: the socket enters the exam's room and is sent
`proctor.roster`). Exam clients send `heartbeat` and `event`; proctors send `roster`, `warn`,
`extend` and `end`. Every event is answered with an ack, or {"error": {"code", "message"}}.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import socketio
from pydantic import BaseModel, ValidationError

from hub.accounts.sessions import is_session_revoked
from hub.admission import Admission, overloaded
from hub.bus import PROCTOR_NAMESPACE, attempt_room, exam_room, user_room
from hub.context import Actor, HubContext
from hub.errors import DomainError, ErrorCode
from hub.proctor import actions, events, roster, seats
from hub.proctor.seats import Seat
from hub.sockets.handlers import jsonable, run_event
from hub.sockets.leases import Leases, authenticate, refuse
from schema.models.chat import AuthRefresh
from schema.models.proctor import (
    End,
    Extend,
    Heartbeat,
    ProctorEvent,
    RosterRequest,
    StudentAuth,
    TeacherAuth,
    Warn,
)

logger = logging.getLogger("dreamseed.sockets")


@dataclass(frozen=True)
class Watcher:
    """A proctor's dashboard watching one exam."""

    actor: Actor
    exam_id: UUID


Peer = Seat | Watcher
Handler = Callable[[HubContext, Any, str, Any], Awaitable[Any]]
Spec = tuple[type[BaseModel], Handler]


async def _heartbeat(ctx: HubContext, seat: Seat, sid: str, body: Heartbeat) -> Any:
    return await seats.heartbeat(ctx, seat, body.client_time, body.question)


async def _event(ctx: HubContext, seat: Seat, sid: str, body: ProctorEvent) -> Any:
    return await events.record_event(ctx, seat.actor, seat.attempt_id, body)


async def _roster(ctx: HubContext, w: Watcher, sid: str, body: RosterRequest) -> Any:
    return await roster.exam_roster(ctx, w.actor, w.exam_id)


async def _warn(ctx: HubContext, w: Watcher, sid: str, body: Warn) -> Any:
    return await actions.warn(ctx, w.actor, w.exam_id, body)


async def _extend(ctx: HubContext, w: Watcher, sid: str, body: Extend) -> Any:
    return await actions.extend(ctx, w.actor, w.exam_id, body)


async def _end(ctx: HubContext, w: Watcher, sid: str, body: End) -> Any:
    return await actions.end(ctx, w.actor, w.exam_id, body)


STUDENT_EVENTS: dict[str, Spec] = {
    "heartbeat": (Heartbeat, _heartbeat),
    "event": (ProctorEvent, _event),
}
PROCTOR_EVENTS: dict[str, Spec] = {
    "roster": (RosterRequest, _roster),
    "warn": (Warn, _warn),
    "extend": (Extend, _extend),
    "end": (End, _end),
}

# Every client event of this namespace (either role) and its model, for the fuzzers and the
# tenancy sweep, as hub/sockets/namespace.py's CLIENT_EVENTS.
CLIENT_EVENTS: dict[str, type[BaseModel]] = {
    **{name: spec[0] for name, spec in (STUDENT_EVENTS | PROCTOR_EVENTS).items()},
    "auth.refresh": AuthRefresh,
}


class ProctorNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(PROCTOR_NAMESPACE)
        self._ctx: HubContext | None = None
        self.peers: dict[str, Peer] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._keeper: asyncio.Task[None] | None = None
        self.leases = Leases(self, lambda: self.ctx)
        # The process's Admission, shared with the default namespace (create_server).
        self.admission = Admission(limit=512)
        self.max_in_flight_per_connection = 16

    def session_of(self, sid: str) -> str | None:
        peer = self.peers.get(sid)
        return str(peer.actor.session_id) if peer else None

    def bind(self, ctx: HubContext) -> None:
        self._ctx = ctx

    @property
    def ctx(self) -> HubContext:
        assert self._ctx is not None, "ProctorNamespace used before bind()"  # noqa: S101
        return self._ctx

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        claims = await authenticate(self.ctx, auth)
        actor, expires_at = Actor(claims.user_id, claims.session_id), claims.expires_at.timestamp()
        # The user's room before any check: from here on a logout or an erasure reaches this
        # socket on any hub; what happened before joining is caught by the checks after it.
        await self.enter_room(sid, user_room(actor.user_id))
        try:
            if isinstance(auth, dict) and "attempt_id" in auth:
                student = StudentAuth.model_validate(auth)
                seat = await seats.take_seat(self.ctx, actor, student.attempt_id, sid)
                await self._admit(sid, seat, attempt_room(seat.attempt_id), expires_at)
                self._keep_seats()
                return
            proctor = TeacherAuth.model_validate(auth)
            await roster.admit_proctor(self.ctx, actor, proctor.exam_id)
            # In the room before the roster is read: a change in between arrives as an event
            # after the roster, never lost between the two.
            await self._admit(
                sid, Watcher(actor, proctor.exam_id), exam_room(proctor.exam_id), expires_at
            )
            self._later(self._send_roster(sid, actor, proctor.exam_id))
        except ValidationError:
            raise refuse(
                ErrorCode.VALIDATION,
                "Send {token, attempt_id} from an exam client or {token, exam_id} as a proctor",
            ) from None
        except DomainError as exc:
            raise refuse(exc.code, exc.message) from None
        except Exception:
            logger.exception("proctoring connect failed")
            raise refuse(ErrorCode.INTERNAL, "Something went wrong; connect again") from None

    async def _admit(self, sid: str, peer: Peer, room: str, expires_at: float) -> None:
        """Enter the peer's room, then check again what was checked before entering it: a
        logout, or the end of the attempt, in between was not heard by this socket."""
        self.peers[sid] = peer
        await self.enter_room(sid, room)
        try:
            if await is_session_revoked(self.ctx, peer.actor.session_id):
                raise DomainError(ErrorCode.SESSION_REVOKED, "This session has been signed out")
            if isinstance(peer, Seat):
                await seats.still_open(self.ctx, peer)
        except BaseException:
            self.peers.pop(sid, None)
            if isinstance(peer, Seat):
                await seats.leave_seat(self.ctx, peer, sid)
            raise
        self.leases.grant(sid, expires_at)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.leases.revoke(sid)
        peer = self.peers.pop(sid, None)
        if isinstance(peer, Seat):
            try:
                await seats.leave_seat(self.ctx, peer, sid)
            except Exception:
                logger.exception("proctoring roster update on disconnect failed")

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        sid, data = args[0], (args[1] if len(args) > 1 else None)
        peer = self.peers.get(sid)
        if peer is None:
            return {"error": {"code": "unauthenticated", "message": "Not connected"}}
        if event == "auth.refresh":
            actor, ack = await self.leases.renew(sid, peer.actor, data)
            self.peers[sid] = dataclasses.replace(peer, actor=actor)
            return ack
        table = STUDENT_EVENTS if isinstance(peer, Seat) else PROCTOR_EVENTS
        if not self.admission.try_enter(sid, self.max_in_flight_per_connection):
            return await run_event(event, None, data, None, "", refused=overloaded("socket"))
        try:
            return await self._run(event, table.get(event), peer, sid, data)
        finally:
            self.admission.leave(sid)

    async def _run(
        self, event: str, spec: Spec | None, peer: Peer, sid: str, data: Any
    ) -> dict[str, Any]:
        """Run one client event; always return an ack, never raise into the connection."""
        role = "an exam client" if isinstance(peer, Seat) else "a proctor"
        if spec is None:
            unknown = f"Unknown event '{event[:60]}' for {role}"
            return await run_event("proctor.unknown", None, data, None, unknown)
        model, handler = spec
        return await run_event(
            f"proctor.{event}",
            model,
            {} if data is None else data,
            lambda body: handler(self.ctx, peer, sid, body),
        )

    def _keep_seats(self) -> None:
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.get_running_loop().create_task(self._keep_seats_loop())

    async def _keep_seats_loop(self) -> None:
        """Keep this hub's exam clients live in the roster; ends when none is left."""
        while True:
            await asyncio.sleep(self.ctx.settings.presence_ttl_s / 4)
            held = {sid: p for sid, p in self.peers.items() if isinstance(p, Seat)}
            if not held:
                return
            try:
                for sid in [sid for sid in held if self._gone(sid)]:
                    # It dropped while connecting, before on_disconnect could see it.
                    self.peers.pop(sid, None)
                    await seats.leave_seat(self.ctx, held.pop(sid), sid)
                await seats.keep_seats(self.ctx, {sid: p.attempt_id for sid, p in held.items()})
            except Exception:
                logger.exception("keeping exam clients live failed; retrying")

    def _gone(self, sid: str) -> bool:
        manager = self.server.manager
        connecting = manager.is_pre_connected(sid, self.namespace)
        return not connecting and not manager.is_connected(sid, self.namespace)

    async def _send_roster(self, sid: str, actor: Actor, exam_id: UUID) -> None:
        """After the handshake completes, so the roster follows the CONNECT packet."""
        try:
            state = await roster.exam_roster(self.ctx, actor, exam_id)
            await self.emit("proctor.roster", jsonable(state), to=sid)
        except Exception:
            logger.exception("roster for a new proctor failed; it can ask with `roster`")

    def _later(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
