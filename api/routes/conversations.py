"""/conversations: list, create, detail, leave, participants, history, send, read."""

from __future__ import annotations

from typing import Any

from api.endpoint import Call, endpoint
from hub.chat import conversations as convs
from hub.chat import messages, receipts
from schema.models.chat import (
    Added,
    AddParticipants,
    ConversationList,
    ConversationOut,
    CreateConversation,
    HistoryPage,
    HistoryQuery,
    MessageAck,
    ReadBody,
    ReadOut,
    ReadReceipt,
    SendMessage,
    SendMessageBody,
)

TAG = "conversations"


@endpoint(
    "GET",
    "/conversations",
    summary="My conversations by last activity",
    response=ConversationList,
    tag=TAG,
)
async def mine(call: Call) -> dict[str, Any]:
    return {"items": await convs.list_conversations(call.ctx, call.user)}


@endpoint(
    "POST",
    "/conversations",
    summary="Open a direct conversation or create a group",
    body=CreateConversation,
    response=ConversationOut,
    status=201,
    tag=TAG,
)
async def create(call: Call) -> dict[str, Any]:
    return await convs.create_conversation(call.ctx, call.user, call.body)


@endpoint(
    "GET",
    "/conversations/{conversation_id}",
    summary="A conversation and its members",
    response=ConversationOut,
    tag=TAG,
)
async def detail(call: Call) -> dict[str, Any]:
    return await convs.get_conversation(call.ctx, call.user, call.path_uuid("conversation_id"))


@endpoint("DELETE", "/conversations/{conversation_id}", summary="Leave a conversation", tag=TAG)
async def leave(call: Call) -> None:
    await convs.remove_participant(
        call.ctx, call.user, call.path_uuid("conversation_id"), call.user.user_id
    )


@endpoint(
    "POST",
    "/conversations/{conversation_id}/participants",
    summary="Add participants",
    body=AddParticipants,
    response=Added,
    status=201,
    tag=TAG,
)
async def add(call: Call) -> dict[str, Any]:
    body: AddParticipants = call.body
    added = await convs.add_participants(
        call.ctx, call.user, call.path_uuid("conversation_id"), body.user_ids, body.role
    )
    return {"added": added}


@endpoint(
    "DELETE",
    "/conversations/{conversation_id}/participants/{user_id}",
    summary="Remove a participant",
    tag=TAG,
)
async def remove(call: Call) -> None:
    await convs.remove_participant(
        call.ctx, call.user, call.path_uuid("conversation_id"), call.path_uuid("user_id")
    )


@endpoint(
    "GET",
    "/conversations/{conversation_id}/messages",
    summary="History by seq or date",
    query=HistoryQuery,
    response=HistoryPage,
    tag=TAG,
)
async def history(call: Call) -> dict[str, Any]:
    items, has_more = await messages.history(
        call.ctx, call.user, call.path_uuid("conversation_id"), call.query
    )
    return {"items": items, "has_more": has_more}


@endpoint(
    "POST",
    "/conversations/{conversation_id}/messages",
    summary="Send a message (the socket's message.send, over HTTP)",
    body=SendMessageBody,
    response=MessageAck,
    status=201,
    tag=TAG,
)
async def send(call: Call) -> dict[str, Any]:
    body = SendMessage(conversation_id=call.path_uuid("conversation_id"), **call.body.model_dump())
    return await messages.send_message(call.ctx, call.user, body)


@endpoint(
    "POST",
    "/conversations/{conversation_id}/read",
    summary="Move my read watermark",
    body=ReadBody,
    response=ReadOut,
    tag=TAG,
)
async def read(call: Call) -> dict[str, Any]:
    body = ReadReceipt(conversation_id=call.path_uuid("conversation_id"), seq=call.body.seq)
    return await receipts.mark_read(call.ctx, call.user, body)


ENDPOINTS = [mine, create, detail, leave, add, remove, history, send, read]
