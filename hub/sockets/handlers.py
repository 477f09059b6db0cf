"""Client events of the default namespace: validate, call one domain function, shape the ack.

Every handler answers with an ack: the result, or {"error": {"code", "message", ...}}. A
handler's failure never reaches the connection or the process.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ValidationError

from hub import metrics
from hub.chat import messages, receipts, sync
from hub.clock import wire_time
from hub.context import Actor, HubContext
from hub.errors import DomainError, ErrorCode
from hub.outages import as_unavailable
from hub.presence.queries import presence_of
from hub.tutor import answers as tutor_answers
from hub.tutor import questions as tutor_questions
from schema.models.chat import (
    DeleteMessage,
    EditMessage,
    MessageRef,
    PresenceQuery,
    ReadReceipt,
    SendMessage,
    SyncRequest,
)
from schema.models.tutor import AnswerRef, AskTutor, ResumeAnswer

logger = logging.getLogger("dreamseed.sockets")
Handler = Callable[[HubContext, Actor, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Event:
    model: type[BaseModel]
    handler: Handler


async def _send(ctx: HubContext, actor: Actor, body: SendMessage) -> Any:
    return await messages.send_message(ctx, actor, body)


async def _edit(ctx: HubContext, actor: Actor, body: EditMessage) -> Any:
    return await messages.edit_message(ctx, actor, body.message_id, body.content)


async def _delete(ctx: HubContext, actor: Actor, body: DeleteMessage) -> Any:
    return await messages.delete_message(ctx, actor, body.message_id)


async def _read(ctx: HubContext, actor: Actor, body: ReadReceipt) -> Any:
    return await receipts.mark_read(ctx, actor, body)


async def _ack(ctx: HubContext, actor: Actor, body: MessageRef) -> Any:
    return await receipts.acknowledge(ctx, actor, body.message_id)


async def _read_status(ctx: HubContext, actor: Actor, body: MessageRef) -> Any:
    return await receipts.read_status(ctx, actor, body.message_id)


async def _sync(ctx: HubContext, actor: Actor, body: SyncRequest) -> Any:
    return await sync.sync(ctx, actor, body)


async def _presence(ctx: HubContext, actor: Actor, body: PresenceQuery) -> Any:
    return await presence_of(ctx, actor, body.user_ids)


async def _tutor_ask(ctx: HubContext, actor: Actor, body: AskTutor) -> Any:
    return (await tutor_questions.ask(ctx, actor, body)).ack()


async def _tutor_cancel(ctx: HubContext, actor: Actor, body: AnswerRef) -> Any:
    return await tutor_answers.cancel(ctx, actor, body.answer_id)


async def _tutor_resume(ctx: HubContext, actor: Actor, body: ResumeAnswer) -> Any:
    return await tutor_answers.resume(ctx, actor, body.answer_id, body.offset, body.attempt)


EVENTS: dict[str, Event] = {
    "message.send": Event(SendMessage, _send),
    "message.edit": Event(EditMessage, _edit),
    "message.delete": Event(DeleteMessage, _delete),
    "message.read": Event(ReadReceipt, _read),
    "message.ack": Event(MessageRef, _ack),
    "message.read_status": Event(MessageRef, _read_status),
    "sync": Event(SyncRequest, _sync),
    "presence.query": Event(PresenceQuery, _presence),
    "tutor.ask": Event(AskTutor, _tutor_ask),
    "tutor.cancel": Event(AnswerRef, _tutor_cancel),
    "tutor.resume": Event(ResumeAnswer, _tutor_resume),
}


async def dispatch(ctx: HubContext, actor: Actor, event: str, data: Any) -> dict[str, Any]:
    """Run one client event of the default namespace; always return an ack, never raise."""
    spec = EVENTS.get(event)
    if spec is None:
        return await run_event("unknown", None, data, None, f"Unknown event '{event[:60]}'")
    return await run_event(event, spec.model, data, lambda body: spec.handler(ctx, actor, body))


async def run_event(
    label: str,
    model: type[BaseModel] | None,
    data: Any,
    handler: Callable[[Any], Awaitable[Any]] | None,
    unknown: str = "Unknown event",
    refused: DomainError | None = None,
) -> dict[str, Any]:
    """Validate `data` with `model` (None: the event is unknown), run the handler, and shape the
    ack: the result, or {"error": {"code", "message", ...}}. Counted; never raises.
    `refused`: the transport already refused the event (a rate limit); shape that."""
    try:
        if refused is not None:
            raise refused
        if model is None or handler is None:
            raise DomainError(ErrorCode.VALIDATION, unknown)
        try:
            body = model.model_validate(data)
        except ValidationError as exc:
            raise invalid_payload(exc) from None
        result = await handler(body)
        metrics.SOCKET_EVENTS.labels(label, "ok").inc()
        ack: dict[str, Any] = jsonable(result)
        return ack
    except DomainError as exc:
        metrics.SOCKET_EVENTS.labels(label, "refused").inc()
        metrics.ERRORS.labels("socket", str(exc.code)).inc()
        return {"error": jsonable(exc.to_dict())}
    except Exception as exc:
        outage = as_unavailable(exc, "socket")
        if outage is not None:
            metrics.SOCKET_EVENTS.labels(label, "unavailable").inc()
            return {"error": jsonable(outage.to_dict())}
        logger.exception("socket handler %s failed", label)
        metrics.SOCKET_EVENTS.labels(label, "failed").inc()
        metrics.ERRORS.labels("socket", str(ErrorCode.INTERNAL)).inc()
        return {"error": {"code": str(ErrorCode.INTERNAL), "message": "Something went wrong"}}


def invalid_payload(exc: ValidationError) -> DomainError:
    """A validation error naming every failing field (the ack's `fields`)."""
    fields = [
        {"field": ".".join(str(p) for p in e["loc"]) or "payload", "message": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return DomainError(ErrorCode.VALIDATION, f"Invalid payload: {summary}", fields=fields)


def jsonable(value: Any) -> Any:
    """UUIDs and datetimes become strings; containers are walked."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    if hasattr(value, "isoformat"):
        return wire_time(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value
