"""Wire models of the messenger: socket events and REST bodies share them."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from schema.models.common import IsoDateTime, Request, Response, ShortText
from schema.models.files import AttachmentIds, AttachmentOut

MAX_MESSAGE_CHARS = 4000


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Letters that render as nothing: Hangul fillers and the blank Braille pattern.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def is_blank(value: str) -> bool:
    """Nothing a person could see: spaces, and format or control characters such as
    U+202E (right-to-left override), U+200B (zero width space) and U+FEFF."""
    return all(
        ch.isspace() or ch in _BLANK_LETTERS or unicodedata.category(ch) in ("Cf", "Cc", "Zs")
        for ch in value
    )


def _sendable(value: str) -> str:
    # PostgreSQL text cannot hold U+0000; refuse it here rather than fail in the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if is_blank(value):
        raise ValueError("must not be blank (only invisible characters)")
    return value


# Strict: bytes (a binary Socket.IO attachment) are refused, not decoded into text.
ClientMsgId = Annotated[
    str, Strict(), StringConstraints(min_length=1, max_length=64, pattern=r"^[\w.:-]+$")
]
MessageText = Annotated[
    str,
    Strict(),
    StringConstraints(min_length=1, max_length=MAX_MESSAGE_CHARS),
    AfterValidator(_sendable),
]
MessageType = Literal["text", "image", "file", "voice"]
# A caption under attachments: may be empty, never NUL.
Caption = Annotated[
    str, Strict(), StringConstraints(max_length=MAX_MESSAGE_CHARS), AfterValidator(_no_nul)
]
ConversationKind = Literal["direct", "group", "announcement"]
# What a client is shown; "tutor" conversations are made by the AI tutor, never by a client.
ShownConversationKind = Literal["direct", "group", "announcement", "tutor"]
ParticipantRole = Literal["admin", "member", "observer"]
Seq = Annotated[int, Field(ge=0, le=2**62)]


class _Sendable(Request):
    """What a message carries: text, or files (`attachment_ids`, uploaded with POST /files)
    with an optional caption. image/file/voice messages carry files; text messages do not."""

    # Message text is kept as typed: leading spaces can be indentation.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    client_msg_id: ClientMsgId
    # Before `content`: whether a blank caption is allowed depends on them.
    attachment_ids: AttachmentIds = Field(default_factory=list)
    content: Caption = Field(default="", validate_default=True)
    message_type: MessageType = "text"
    reply_to: UUID | None = None
    ack_required: bool = False
    # Breaks through quiet hours; honoured for teachers and conversation admins only.
    urgent: bool = False

    @field_validator("content")
    @classmethod
    def _text_or_files(cls, value: str, info: ValidationInfo) -> str:
        if is_blank(value) and not info.data.get("attachment_ids"):
            raise ValueError("must not be blank (only invisible characters)")
        return value

    @model_validator(mode="after")
    def _type_matches(self) -> _Sendable:
        if self.attachment_ids and self.message_type == "text":
            raise ValueError("a message with attachment_ids is of type image, file or voice")
        if not self.attachment_ids and self.message_type != "text":
            raise ValueError(f"a {self.message_type} message needs attachment_ids")
        if len(set(self.attachment_ids)) != len(self.attachment_ids):
            raise ValueError("attachment_ids must not repeat a file")
        return self


class SendMessage(_Sendable):
    conversation_id: UUID


class SendMessageBody(_Sendable):
    """REST: the conversation comes from the path."""


class MessageAck(Response):
    id: UUID
    seq: int
    created_at: datetime


class EditMessage(Request):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    message_id: UUID
    content: MessageText


class DeleteMessage(Request):
    message_id: UUID


class Typing(Request):
    conversation_id: UUID
    typing: Annotated[bool, Strict()]  # true or false: not "true", "yes" or 1


class ReadReceipt(Request):
    """Either {conversation_id, seq} or the original design's {message_id}."""

    conversation_id: UUID | None = None
    seq: Seq | None = None
    message_id: UUID | None = None

    @model_validator(mode="after")
    def _one_form(self) -> ReadReceipt:
        by_seq = self.conversation_id is not None and self.seq is not None
        if by_seq == (self.message_id is not None):
            raise ValueError("give either conversation_id and seq, or message_id")
        return self


class SyncPosition(Request):
    seq: Seq = 0
    change: Seq | None = None


class SyncRequest(Request):
    """{conversation_id: last_seq} or {conversation_id: {"seq": n, "change": m}}."""

    conversations: dict[UUID, Seq | SyncPosition] = Field(max_length=500)
    limit: Annotated[int, Field(ge=1, le=100)] = 100

    def positions(self) -> dict[UUID, SyncPosition]:
        return {
            cid: pos if isinstance(pos, SyncPosition) else SyncPosition(seq=pos)
            for cid, pos in self.conversations.items()
        }


class PresenceQuery(Request):
    user_ids: list[UUID] = Field(max_length=500)


class AuthRefresh(Request):
    access_token: Annotated[str, StringConstraints(min_length=10, max_length=4096)]


class CreateConversation(Request):
    kind: ConversationKind
    org_id: UUID | None = None
    title: ShortText | None = None
    member_ids: list[UUID] = Field(default_factory=list, max_length=5000)

    @model_validator(mode="after")
    def _shape(self) -> CreateConversation:
        if self.kind == "direct":
            if len(self.member_ids) != 1:
                raise ValueError("a direct conversation takes exactly one other member_id")
        elif self.org_id is None:
            raise ValueError("org_id is required for group and announcement conversations")
        elif not self.title:
            raise ValueError("title is required for group and announcement conversations")
        return self


class AddParticipants(Request):
    user_ids: list[UUID] = Field(min_length=1, max_length=5000)
    role: ParticipantRole = "member"


class ReportMessage(Request):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class MessageOut(Response):
    id: UUID
    conversation_id: UUID
    seq: int
    change_seq: int
    sender_id: UUID | None
    client_msg_id: str
    message_type: str
    content: str | None
    reply_to: UUID | None
    ack_required: bool
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    # image/file/voice messages: their files (none once the message is deleted).
    attachments: list[AttachmentOut] | None = None


class ParticipantOut(Response):
    user_id: UUID
    role: ParticipantRole
    display_name: str
    last_read_seq: int


class ConversationOut(Response):
    id: UUID
    kind: ShownConversationKind
    org_id: UUID
    zone_id: UUID
    title: str | None
    last_seq: int
    change_seq: int
    last_message_at: datetime | None
    my_role: ParticipantRole
    last_read_seq: int
    unread_count: int
    last_message: MessageOut | None = None
    participants: list[ParticipantOut] | None = None


class ConversationList(Response):
    items: list[ConversationOut]


class HistoryQuery(Request):
    before: Seq | None = None
    after: Seq | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50
    since: datetime | None = None
    until: datetime | None = None

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a time zone offset")
        return value


class HistoryPage(Response):
    items: list[MessageOut]
    has_more: bool


class SearchQuery(Request):
    q: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    conversation_id: UUID | None = None
    limit: Annotated[int, Field(ge=1, le=50)] = 20
    before: IsoDateTime | None = None


class SearchHit(Response):
    message: MessageOut
    conversation_title: str | None


class SearchResults(Response):
    items: list[SearchHit]


class ReadStatus(Response):
    message_id: UUID
    seq: int
    read: list[UUID]
    unread: list[UUID]
    acknowledged: list[UUID] | None


class ReportOut(Response):
    id: int
    message_id: UUID
    reason: str
    created_at: datetime


def dump_event(payload: Any) -> Any:
    """Socket payloads are JSON: UUIDs and datetimes as strings."""
    if isinstance(payload, Response):
        return payload.model_dump(mode="json")
    return payload


class MessageRef(Request):
    message_id: UUID


class EditBody(Request):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    content: MessageText


class ReadBody(Request):
    seq: Seq


class Added(Response):
    added: list[UUID]


class AckOut(Response):
    message_id: UUID
    conversation_id: UUID
    user_id: UUID
    new: bool


class ReadOut(Response):
    conversation_id: UUID
    user_id: UUID
    seq: int
    unread_count: int
