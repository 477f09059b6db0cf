"""/tutor: ask (answer as Server-Sent Events, for clients without a socket), one answer's
state, cancel, usage per class, refused questions, observed conversations, settings."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from pydantic import Field
from starlette.responses import StreamingResponse

from api.endpoint import Call, endpoint
from hub.tutor import answers, oversight, questions
from hub.tutor.relay import EVENT_OF, event_payload
from schema.models.common import Request as RequestModel
from schema.models.tutor import (
    AnswerStateOut,
    AskTutor,
    CancelAck,
    ObservedOut,
    ObservedQuery,
    RefusalsOut,
    RefusalsQuery,
    TutorSettings,
    TutorSettingsOut,
    UsageOut,
    UsageQuery,
)

TAG = "tutor"
KEEPALIVE_MS = 15_000


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n".encode()


@endpoint(
    "POST",
    "/tutor/questions",
    summary="Ask the AI tutor; the answer streams back as Server-Sent Events "
    "(tutor.asked, tutor.queued, tutor.delta, tutor.drop, tutor.error, tutor.done)",
    body=AskTutor,
    tag=TAG,
    raw={200: "text/event-stream"},
)
async def ask(call: Call) -> StreamingResponse:
    asked = await questions.ask(call.ctx, call.user, call.body)
    streams = answers.streams_of(call.ctx)

    async def events() -> AsyncIterator[bytes]:
        yield _sse("tutor.asked", asked.ack())
        last = "0-0"
        while True:
            frames = await streams.follow(asked.answer_id, last, KEEPALIVE_MS)
            if not frames:
                yield b": keep-alive\n\n"
                continue
            for entry_id, frame in frames:
                last = entry_id
                yield _sse(EVENT_OF[frame["kind"]], event_payload(asked.answer_id, frame))
                if frame["kind"] == "done":
                    return

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@endpoint(
    "GET",
    "/tutor/answers/{answer_id}",
    summary="One of my answers now: status, text so far, and its end",
    response=AnswerStateOut,
    tag=TAG,
)
async def answer(call: Call) -> dict[str, Any]:
    return await answers.answer_state(call.ctx, call.user, call.path_uuid("answer_id"))


@endpoint(
    "POST",
    "/tutor/answers/{answer_id}/cancel",
    summary="Stop one of my answers (from any device)",
    response=CancelAck,
    tag=TAG,
)
async def cancel(call: Call) -> dict[str, Any]:
    return await answers.cancel(call.ctx, call.user, call.path_uuid("answer_id"))


@endpoint(
    "GET",
    "/tutor/usage",
    summary="Tutor questions per student per day of a class (its teachers, school admins)",
    query=UsageQuery,
    response=UsageOut,
    tag=TAG,
)
async def usage(call: Call) -> dict[str, Any]:
    q: UsageQuery = call.query
    return {"items": await oversight.usage_by_class(call.ctx, call.user, q.class_id, q.days)}


@endpoint(
    "GET",
    "/tutor/refusals",
    summary="Questions the tutor refused, with the reason (school admins)",
    query=RefusalsQuery,
    response=RefusalsOut,
    tag=TAG,
)
async def refused(call: Call) -> dict[str, Any]:
    q: RefusalsQuery = call.query
    return {"items": await oversight.refusals(call.ctx, call.user, q.org_id, q.limit)}


@endpoint(
    "GET",
    "/tutor/conversations",
    summary="A student's tutor conversations I may read (teachers, parents; read-only)",
    query=ObservedQuery,
    response=ObservedOut,
    tag=TAG,
)
async def observed(call: Call) -> dict[str, Any]:
    q: ObservedQuery = call.query
    return {"items": await oversight.observed_conversations(call.ctx, call.user, q.student_id)}


class _Page(RequestModel):
    # Bounded: a negative LIMIT or a seq past bigint reached PostgreSQL as an error (a 500).
    before: Annotated[int, Field(ge=0, le=2**62)] | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50


@endpoint(
    "GET",
    "/tutor/conversations/{conversation_id}/messages",
    summary="Read a tutor conversation (read-only)",
    query=_Page,
    tag=TAG,
    raw={200: "application/json"},
)
async def observed_messages(call: Call) -> Any:
    from starlette.responses import JSONResponse

    page: _Page = call.query
    items = await oversight.observed_messages(
        call.ctx, call.user, call.path_uuid("conversation_id"), page.before, page.limit
    )
    return JSONResponse({"items": items})


@endpoint(
    "GET",
    "/tutor/settings/{org_id}",
    summary="A school's tutor settings",
    response=TutorSettingsOut,
    tag=TAG,
)
async def get_settings(call: Call) -> dict[str, Any]:
    return await oversight.tutor_settings(call.ctx, call.user, call.path_uuid("org_id"))


@endpoint(
    "PUT",
    "/tutor/settings/{org_id}",
    summary="Turn the school's tutor on or off, choose observers, plan, grade, language",
    body=TutorSettings,
    response=TutorSettingsOut,
    tag=TAG,
)
async def put_settings(call: Call) -> dict[str, Any]:
    return await oversight.update_tutor_settings(
        call.ctx, call.user, call.path_uuid("org_id"), call.body
    )


ENDPOINTS = [
    ask,
    answer,
    cancel,
    usage,
    refused,
    observed,
    observed_messages,
    get_settings,
    put_settings,
]
