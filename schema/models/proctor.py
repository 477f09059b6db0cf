"""Wire models of live proctoring (the `/proctor` Socket.IO namespace).

A student's exam client connects for one attempt and reports heartbeats and events; a
teacher's dashboard connects for one exam and sends commands about its attempts.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, StringConstraints, field_validator

from schema.models.common import Request, Response

Token = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=500)]
DetailKey = Annotated[str, StringConstraints(min_length=1, max_length=40)]
# No NaN or infinity: PostgreSQL's JSON has no such numbers.
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
DetailValue = Annotated[str, StringConstraints(max_length=200)] | int | FiniteFloat | bool | None
EventId = Annotated[str, StringConstraints(min_length=1, max_length=64)]

EventKind = Literal[
    "focus_lost",
    "focus_returned",
    "tab_hidden",
    "tab_visible",
    "fullscreen_exit",
    "copy",
    "paste",
    "devtools_opened",
    "reconnect",
]
Severity = Literal["info", "warning", "serious"]

# The hub stores a client's retry key under this name in the event's details.
EVENT_ID_KEY = "client_event_id"
MAX_DETAILS_BYTES = 1024


class StudentAuth(Request):
    """Connect auth of a student's exam client: one attempt, their own and in progress."""

    token: Token
    attempt_id: UUID


class TeacherAuth(Request):
    """Connect auth of a teacher's dashboard: one exam of their organization."""

    token: Token
    exam_id: UUID


class Heartbeat(Request):
    client_time: AwareDatetime
    # The question the student has on screen (1-based), as the client sees it.
    question: int | None = Field(default=None, ge=1, le=10_000)


class ProctorEvent(Request):
    kind: EventKind
    client_time: AwareDatetime
    details: dict[DetailKey, DetailValue] = Field(default_factory=dict, max_length=10)
    # A retry of an event already stored (the ack was lost) returns it instead of storing it
    # again.
    event_id: EventId | None = None

    @field_validator("details")
    @classmethod
    def _small(cls, value: dict[str, object]) -> dict[str, object]:
        if EVENT_ID_KEY in value:
            raise ValueError(f"'{EVENT_ID_KEY}' is reserved; send it as event_id")
        if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_DETAILS_BYTES:
            raise ValueError(f"must be at most {MAX_DETAILS_BYTES} bytes as JSON")
        return value


class Warn(Request):
    attempt_id: UUID
    message: Reason


class Extend(Request):
    attempt_id: UUID
    seconds: int = Field(ge=1, le=7200)


class End(Request):
    attempt_id: UUID
    reason: Reason


class RosterRequest(Request):
    """The dashboard asks for the whole roster again (it gets one on joining)."""


class FlagCounts(Response):
    info: int = 0
    warning: int = 0
    serious: int = 0


class FlagOut(Response):
    id: int
    attempt_id: UUID
    student_id: UUID
    kind: str
    severity: Severity
    client_at: datetime | None
    server_at: datetime
    details: dict[str, DetailValue]
    # The attempt's client events so far by severity, this one included.
    flags: FlagCounts
    duplicate: bool = False


class RosterEntry(Response):
    attempt_id: UUID
    student_id: UUID
    student_name: str
    number: int
    status: Literal["active", "submitted"]
    finished_by: str | None
    answered: int
    score: int
    max_score: int
    deadline_at: datetime | None
    time_left_s: float | None
    connected: bool
    sockets: int
    question: int | None
    last_heartbeat_at: datetime | None
    since_heartbeat_s: float | None
    flags: FlagCounts


class Roster(Response):
    exam_id: UUID
    server_time: datetime
    attempts: list[RosterEntry]
