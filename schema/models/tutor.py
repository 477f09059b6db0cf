"""Wire models of the AI tutor: socket events `tutor.*` and REST `/tutor/*`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import ConfigDict, Field, Strict, StringConstraints

from schema.models.chat import ClientMsgId
from schema.models.common import Request, Response

MAX_QUESTION_CHARS = 4000

QuestionText = Annotated[
    str, Strict(), StringConstraints(min_length=1, max_length=MAX_QUESTION_CHARS)
]


class AskTutor(Request):
    """`tutor.ask` and POST /tutor/questions. Without conversation_id or org_id: the
    organization where the asker is a student (when there is exactly one)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    client_msg_id: ClientMsgId
    question: QuestionText
    conversation_id: UUID | None = None
    org_id: UUID | None = None


class AnswerRef(Request):
    """`tutor.cancel`."""

    answer_id: UUID


class ResumeAnswer(Request):
    """`tutor.resume`: the device holds `offset` characters of attempt `attempt`."""

    answer_id: UUID
    offset: Annotated[int, Strict(), Field(ge=0, le=10_000_000)] = 0
    attempt: Annotated[int, Strict(), Field(ge=1, le=100)] = 1


class AskAck(Response):
    answer_id: UUID
    conversation_id: UUID
    question: dict[str, Any]


class CancelAck(Response):
    answer_id: UUID
    cancelled: bool


class AnswerStateOut(Response):
    """An answer now: its text so far (from `offset`), and once it ended its `done` frame."""

    answer_id: UUID
    status: str
    attempt: int
    offset: int
    text: str
    position: int | None = None
    done: dict[str, Any] | None = None
    failure: dict[str, Any] | None = None


class TutorSettings(Request):
    """An organization's tutor: on or off, whether teachers and parents may read students'
    tutor conversations, its plan (premium: the 70B tier), and the prompt's grade/language."""

    enabled: bool = True
    observers: bool = True
    plan: Literal["basic", "premium"] = "basic"
    grade: Annotated[str, StringConstraints(max_length=60)] | None = None
    language: Literal["ko", "en"] | None = None


class TutorSettingsOut(Response):
    enabled: bool = True
    observers: bool = True
    plan: str = "basic"
    grade: str | None = None
    language: str | None = None


class UsageQuery(Request):
    class_id: UUID
    days: Annotated[int, Field(ge=1, le=92)] = 7


class UsageRow(Response):
    student_id: UUID
    display_name: str
    day: date
    questions: int
    refused: int


class UsageOut(Response):
    items: list[UsageRow]


class RefusalsQuery(Request):
    org_id: UUID
    limit: Annotated[int, Field(ge=1, le=500)] = 100


class RefusalRow(Response):
    id: UUID
    user_id: UUID
    question: str | None
    reason: str | None
    created_at: datetime


class RefusalsOut(Response):
    items: list[RefusalRow]


class ObservedQuery(Request):
    student_id: UUID


class ObservedConversation(Response):
    conversation_id: UUID
    org_id: UUID
    student_id: UUID


class ObservedOut(Response):
    items: list[ObservedConversation]
