"""A student's exam client on the proctoring channel: joining, heartbeats, leaving.

Joining checks in PostgreSQL that the attempt is the student's own and in progress; from then
on heartbeats touch Redis only. The exam's proctors hear when a client connects (and whether
it is a reconnect, which is also recorded as an event) and when its last socket goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from hub.bus import PROCTOR_NAMESPACE, exam_room
from hub.context import Actor, HubContext
from hub.exams.attempts import check_open, load_attempt
from hub.proctor import events, live


@dataclass(frozen=True)
class Seat:
    """One attempt's exam client, as a hub holds it for one socket."""

    actor: Actor
    attempt_id: UUID
    exam_id: UUID


def _ms(ctx: HubContext) -> int:
    return int(ctx.clock().timestamp() * 1000)


async def take_seat(ctx: HubContext, actor: Actor, attempt_id: UUID, sid: str) -> Seat:
    """Admit an exam client to the actor's attempt in progress; tell the proctors."""
    async with ctx.db.acting(actor.user_id) as conn:
        attempt = await load_attempt(conn, attempt_id, owner=actor)
    check_open(attempt, ctx.clock())
    seat = Seat(actor, attempt_id, attempt["exam_id"])
    connects, sockets = await live.socket_opened(ctx, seat.exam_id, attempt_id, sid, _ms(ctx))
    reconnected = connects > 1
    if reconnected:
        await events.record_reconnect(ctx, actor, attempt_id)
    await _tell(ctx, seat, connected=True, sockets=sockets, reconnected=reconnected)
    return seat


async def still_open(ctx: HubContext, seat: Seat) -> None:
    """The seat's attempt is still in progress (checked again once the socket is in its rooms)."""
    async with ctx.db.acting(seat.actor.user_id) as conn:
        attempt = await load_attempt(conn, seat.attempt_id, owner=seat.actor)
    check_open(attempt, ctx.clock())


async def heartbeat(
    ctx: HubContext, seat: Seat, client_time: datetime, question: int | None
) -> dict[str, Any]:
    """Keep the socket live and note what the client shows; Redis only, no PostgreSQL."""
    now = ctx.clock()
    await live.beat(ctx, seat.exam_id, seat.attempt_id, _ms(ctx), question, client_time)
    return {"server_time": now, "skew_s": round((now - client_time).total_seconds(), 3)}


async def keep_seats(ctx: HubContext, sockets: dict[str, UUID]) -> None:
    """This hub still holds these exam clients' sockets (sid -> attempt id)."""
    await live.keep_alive(ctx, sockets, _ms(ctx))


async def leave_seat(ctx: HubContext, seat: Seat, sid: str) -> None:
    sockets = await live.socket_closed(ctx, seat.attempt_id, sid, _ms(ctx))
    await _tell(ctx, seat, connected=sockets > 0, sockets=sockets, reconnected=False)


async def _tell(
    ctx: HubContext, seat: Seat, *, connected: bool, sockets: int, reconnected: bool
) -> None:
    await ctx.bus.to_room(
        PROCTOR_NAMESPACE,
        exam_room(seat.exam_id),
        "proctor.student",
        {
            "attempt_id": str(seat.attempt_id),
            "student_id": str(seat.actor.user_id),
            "connected": connected,
            "sockets": sockets,
            "reconnected": reconnected,
        },
    )
