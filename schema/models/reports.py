"""Wire models of the report queue (admins resolving reported messages)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import Field, model_validator

from schema.models.common import Request, Response

MAX_MUTE_MINUTES = 60 * 24 * 30


class ReportStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    ALL = "all"


class ReportAction(StrEnum):
    DISMISS = "dismiss"
    DELETE = "delete"
    WARN = "warn"
    MUTE = "mute"

    @property
    def past(self) -> str:
        """How the report is stored once resolved: dismissed, deleted, warned, muted."""
        return {"dismiss": "dismissed", "delete": "deleted", "warn": "warned", "mute": "muted"}[
            self.value
        ]


class ReportQuery(Request):
    status: ReportStatus = ReportStatus.OPEN
    limit: int = Field(default=50, ge=1, le=200)


class ReportResolve(Request):
    action: ReportAction
    mute_minutes: int | None = Field(default=None, ge=1, le=MAX_MUTE_MINUTES)
    note: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _mute_needs_minutes(self) -> ReportResolve:
        if (self.action is ReportAction.MUTE) != (self.mute_minutes is not None):
            raise ValueError("mute_minutes is required for 'mute' and only for it")
        return self


class ReportedMessage(Response):
    id: UUID
    conversation_id: UUID
    seq: int
    sender_id: UUID | None
    sender_name: str | None = None
    content: str | None
    created_at: datetime
    deleted_at: datetime | None = None


class ReportOut(Response):
    id: int
    message_id: UUID
    conversation_id: UUID
    reporter_id: UUID
    reason: str
    created_at: datetime
    resolved_at: datetime | None
    resolution: str | None
    resolved_by: UUID | None
    note: str | None
    message: ReportedMessage
    context: list[ReportedMessage]


class ReportList(Response):
    items: list[ReportOut]


class ReportResolved(Response):
    id: int
    resolution: str
    resolved_at: datetime
    closed_report_ids: list[int]
    muted_until: datetime | None
