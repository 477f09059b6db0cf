"""/messages/{id}: edit, delete, report, read status, acknowledge; and /search."""

from __future__ import annotations

from typing import Any

from api.endpoint import Call, endpoint
from hub.chat import messages, receipts, search
from schema.models.chat import (
    AckOut,
    EditBody,
    MessageOut,
    ReadStatus,
    ReportMessage,
    ReportOut,
    SearchQuery,
    SearchResults,
)

TAG = "messages"


@endpoint(
    "PUT",
    "/messages/{message_id}",
    summary="Edit my message",
    body=EditBody,
    response=MessageOut,
    tag=TAG,
)
async def edit(call: Call) -> dict[str, Any]:
    return await messages.edit_message(
        call.ctx, call.user, call.path_uuid("message_id"), call.body.content
    )


@endpoint("DELETE", "/messages/{message_id}", summary="Delete a message", tag=TAG)
async def delete(call: Call) -> None:
    await messages.delete_message(call.ctx, call.user, call.path_uuid("message_id"))


@endpoint(
    "POST",
    "/messages/{message_id}/report",
    summary="Report a message to the school",
    body=ReportMessage,
    response=ReportOut,
    status=201,
    tag=TAG,
)
async def report(call: Call) -> dict[str, Any]:
    return await messages.report_message(
        call.ctx, call.user, call.path_uuid("message_id"), call.body.reason
    )


@endpoint(
    "GET",
    "/messages/{message_id}/read-status",
    summary="Who has read (and acknowledged) a message: conversation admins",
    response=ReadStatus,
    tag=TAG,
)
async def read_status(call: Call) -> dict[str, Any]:
    return await receipts.read_status(call.ctx, call.user, call.path_uuid("message_id"))


@endpoint(
    "POST",
    "/messages/{message_id}/ack",
    summary="Acknowledge an announcement",
    response=AckOut,
    tag=TAG,
)
async def acknowledge(call: Call) -> dict[str, Any]:
    return await receipts.acknowledge(call.ctx, call.user, call.path_uuid("message_id"))


@endpoint(
    "GET",
    "/search",
    summary="Search my conversations (Korean and English)",
    query=SearchQuery,
    response=SearchResults,
    tag=TAG,
)
async def find(call: Call) -> dict[str, Any]:
    q: SearchQuery = call.query
    items = await search.search_messages(
        call.ctx, call.user, q.q, conversation_id=q.conversation_id, limit=q.limit, before=q.before
    )
    return {"items": items}


ENDPOINTS = [edit, delete, report, read_status, acknowledge, find]
