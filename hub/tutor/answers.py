"""An answer seen from any hub: its state and text so far (resume, GET), and cancel.

Both read the answer's Redis stream, which the tutor worker writes; once that stream expired
a finished answer is read from its stored message. Only the student who asked may resume or
cancel; the record's row-level security hides other people's answers.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hub.context import Actor, HubContext
from hub.errors import DomainError, ErrorCode, not_found
from hub.tutor import records
from hub.tutor.records import OPEN, Outcome, Request
from hub.tutor.relay import event_payload
from hub.tutor.stream import AnswerState, AnswerStreams, replay_from


def streams_of(ctx: HubContext) -> AnswerStreams:
    return AnswerStreams(ctx.redis, ctx.keys, ctx.settings.tutor_stream_ttl_s)


async def own_request(ctx: HubContext, actor: Actor, answer_id: UUID) -> Request:
    async with ctx.db.acting(actor.user_id) as conn:
        request = await records.request_by_id(conn, answer_id)
    if request is None or request.user_id != actor.user_id:
        raise not_found("Answer")
    return request


async def cancel(ctx: HubContext, actor: Actor, answer_id: UUID) -> dict[str, Any]:
    """Stop an answer from any device on any hub: the worker generating it closes the model
    server's stream. The answer ends `cancelled` with the text shown so far."""
    request = await own_request(ctx, actor, answer_id)
    if request.outcome not in OPEN:
        raise DomainError(ErrorCode.CONFLICT, f"This answer already ended ({request.outcome})")
    await ctx.redis.set(ctx.keys.tutor_cancel(answer_id), b"1", ex=ctx.settings.tutor_stream_ttl_s)
    await ctx.redis.publish(ctx.keys.tutor_cancel_channel, str(answer_id))
    return {"answer_id": answer_id, "cancelled": True}


async def resume(
    ctx: HubContext, actor: Actor, answer_id: UUID, offset: int, attempt: int
) -> dict[str, Any]:
    """What a device holding `offset` characters of `attempt` is missing; live frames follow
    on the user's room (the device drops what it already has, by offset)."""
    request = await own_request(ctx, actor, answer_id)
    state = await streams_of(ctx).state(answer_id) or await _stored_state(ctx, actor, request)
    try:
        start, text = replay_from(state, offset, attempt)
    except ValueError:
        raise DomainError(
            ErrorCode.VALIDATION,
            f"offset {offset} is past the end of the answer ({len(state.text)} characters)",
            field="offset",
        ) from None
    return _shape(request, state, start, text)


async def answer_state(ctx: HubContext, actor: Actor, answer_id: UUID) -> dict[str, Any]:
    request = await own_request(ctx, actor, answer_id)
    state = await streams_of(ctx).state(answer_id) or await _stored_state(ctx, actor, request)
    return _shape(request, state, 0, state.text)


def _shape(request: Request, state: AnswerState, start: int, text: str) -> dict[str, Any]:
    status = str(request.outcome)
    if state.done is not None:
        status = state.done["status"]
    return {
        "answer_id": request.id,
        "status": status,
        "attempt": state.attempt,
        "offset": start,
        "text": text,
        "position": state.position,
        "done": event_payload(request.id, state.done) if state.done else None,
        "failure": event_payload(request.id, state.error) if state.error else None,
    }


async def _stored_state(ctx: HubContext, actor: Actor, request: Request) -> AnswerState:
    """No stream (not started yet, or expired after it ended): the record and the message."""
    state = AnswerState()
    if request.outcome in OPEN:
        return state
    message = None
    if request.answer_message_id is not None:
        async with ctx.db.acting(actor.user_id) as conn:
            row = await conn.fetchrow(
                """SELECT id, conversation_id, seq, content, created_at FROM messages
                   WHERE id = $1""",
                request.answer_message_id,
            )
        if row is not None:
            state.text = row["content"]
            message = {
                k: (
                    v.isoformat()
                    if hasattr(v, "isoformat")
                    else str(v)
                    if isinstance(v, UUID)
                    else v
                )
                for k, v in dict(row).items()
            }
    state.done = {
        "kind": "done",
        "status": str(request.outcome),
        "message": message,
        "usage": None,
        "model": request.model,
        "finish_reason": str(request.outcome) if request.outcome != Outcome.DONE else "stop",
    }
    return state
