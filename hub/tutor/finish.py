"""Ending an answer, once, whoever ends it (its worker, a re-run, the sweep): the record's
outcome, the text stored as a message of the tutor conversation, the `done` frame for every
device, and the user's in-flight slot given back."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hub.context import HubContext
from hub.tutor import metrics, records
from hub.tutor.records import Ending, Request
from hub.tutor.relay import event_payload
from hub.tutor.stream import AnswerStreams


async def finish_answer(
    ctx: HubContext,
    streams: AnswerStreams,
    request: Request,
    ending: Ending,
    text: str,
    finish_reason: str,
    usage: dict[str, Any] | None,
) -> bool:
    """False when the answer had already ended (nothing is written twice)."""
    message = None
    async with ctx.db.acting(request.user_id) as conn:
        closed = await records.close_request(conn, request.id, ending)
        if closed is None:
            return False
        if text and request.conversation_id is not None:
            message = await records.insert_message(
                conn, request.conversation_id, None, f"tutor:{request.id}", text
            )
            await records.link_answer(conn, request.id, UUID(message["id"]))
    frame = {
        "kind": "done",
        "status": str(ending.outcome),
        "message": message,
        "usage": usage,
        "model": ending.model,
        "finish_reason": finish_reason,
    }
    await streams.append(request.id, [frame])
    await ctx.bus.to_user(request.user_id, "tutor.done", event_payload(request.id, frame))
    if message is not None and request.conversation_id is not None:
        await ctx.bus.to_conversation(request.conversation_id, "message.new", message)
    await ctx.redis.zrem(ctx.keys.tutor_in_flight(request.user_id), str(request.id))
    metrics.OUTCOMES.labels(str(ending.outcome)).inc()
    return True
