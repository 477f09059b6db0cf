"""Wire models of exams: the item bank, exams, attempts and answers (REST bodies and replies).

Student-facing models (`Question`, `AttemptOut`) have no field for the answer key or the IRT
parameters, so a serialiser cannot leak them even if a domain row carries them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, StringConstraints, ValidationInfo, field_validator

from schema.models.common import Request, Response, ShortText

ExamMode = Literal["fixed", "cbt", "cat"]
ChoiceText = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
StemText = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
AreaName = Annotated[str, StringConstraints(min_length=1, max_length=60)]


class IrtParams(Request):
    """3PL parameters on the D = 1.702 scale (1PL: a = 1, c = 0; 2PL: c = 0)."""

    a: float = Field(default=1.0, gt=0, le=6)
    b: float = Field(default=0.0, ge=-6, le=6)
    c: float = Field(default=0.0, ge=0, lt=0.6)


class ItemCreate(Request):
    org_id: UUID
    stem: StemText
    choices: list[ChoiceText] = Field(min_length=2, max_length=10)
    answer: int = Field(ge=0, le=9)
    content_area: AreaName | None = None
    points: int = Field(default=1, ge=1, le=100)
    params: IrtParams = Field(default_factory=IrtParams)

    # Field validators (not one model validator) so that a refusal names the failing field.
    @field_validator("answer")
    @classmethod
    def _answer_is_a_choice(cls, answer: int, info: ValidationInfo) -> int:
        choices = info.data.get("choices")
        if choices is not None and answer >= len(choices):
            raise ValueError(f"answer must index one of the {len(choices)} choices")
        return answer


class ItemUpdate(Request):
    """Only what does not invalidate given answers: wording, area, parameters by hand."""

    stem: StemText | None = None
    choices: list[ChoiceText] | None = Field(default=None, min_length=2, max_length=10)
    content_area: AreaName | None = None
    params: IrtParams | None = None


class ItemListQuery(Request):
    org_id: UUID
    content_area: AreaName | None = None
    flagged: bool | None = None
    limit: int = Field(default=100, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class ItemOut(Response):
    """An item as its organization's staff see it: with key and parameters."""

    id: UUID
    org_id: UUID
    stem: str
    choices: list[str]
    answer: int
    content_area: str | None
    points: int
    a: float
    b: float
    c: float
    param_version: int
    drift_flagged_at: datetime | None
    created_at: datetime
    retired_at: datetime | None


class ItemList(Response):
    items: list[ItemOut]


class ParameterVersion(Response):
    version: int
    a: float
    b: float
    c: float
    source: str
    status: str
    n_responses: int
    drift_rmsd: float | None
    created_at: datetime
    reviewed_at: datetime | None


class ParameterHistory(Response):
    item_id: UUID
    current_version: int
    versions: list[ParameterVersion]


class DriftReview(Request):
    # An int4 column: past it PostgreSQL refused the query and the route answered 500 (fuzzing).
    version: int = Field(ge=1, le=2**31 - 1)
    accept: bool


class RecalibrateRequest(Request):
    org_id: UUID


class Queued(Response):
    queued: bool


class CatSettings(Request):
    se_stop: float = Field(default=0.3, gt=0.05, le=2)
    max_items: int = Field(default=50, ge=1, le=500)
    min_items: int = Field(default=1, ge=0, le=500)
    # Randomesque pick among the top k, and the restricted exposure cap (None: no cap).
    top_k: int = Field(default=3, ge=1, le=50)
    r_max: float | None = Field(default=0.2, gt=0, le=1)
    content_balance: dict[AreaName, Annotated[float, Field(gt=0, le=1000)]] | None = None


class ExamCreate(Request):
    org_id: UUID
    title: ShortText
    mode: ExamMode
    item_ids: list[UUID] = Field(min_length=1, max_length=10_000)
    class_id: UUID | None = None
    # Validated when absent too, so that a CBT exam without it is refused.
    time_limit_s: int | None = Field(default=None, gt=0, le=24 * 3600, validate_default=True)
    max_attempts: int = Field(default=1, ge=1, le=20)
    # With a time zone: a naive time would be read in the server's zone.
    opens_at: AwareDatetime | None = None
    closes_at: AwareDatetime | None = None
    cat: CatSettings | None = None

    # Field validators (fields validate in order, so earlier ones are in info.data): a
    # refusal names the failing field.
    @field_validator("item_ids")
    @classmethod
    def _distinct(cls, item_ids: list[UUID]) -> list[UUID]:
        if len(set(item_ids)) != len(item_ids):
            raise ValueError("item_ids must not repeat")
        return item_ids

    @field_validator("time_limit_s")
    @classmethod
    def _cbt_is_timed(cls, time_limit_s: int | None, info: ValidationInfo) -> int | None:
        if info.data.get("mode") == "cbt" and time_limit_s is None:
            raise ValueError("a CBT exam needs time_limit_s")
        return time_limit_s

    @field_validator("closes_at")
    @classmethod
    def _closes_after_opening(
        cls, closes_at: datetime | None, info: ValidationInfo
    ) -> datetime | None:
        opens_at = info.data.get("opens_at")
        if opens_at and closes_at and opens_at >= closes_at:
            raise ValueError("closes_at must come after opens_at")
        return closes_at

    @field_validator("cat")
    @classmethod
    def _cat_only(cls, cat: CatSettings | None, info: ValidationInfo) -> CatSettings | None:
        if cat is not None and info.data.get("mode") != "cat":
            raise ValueError("cat settings are for mode 'cat' only")
        return cat


class ExamOut(Response):
    id: UUID
    org_id: UUID
    class_id: UUID | None
    title: str
    mode: ExamMode
    time_limit_s: int | None
    max_attempts: int
    item_count: int
    opens_at: datetime | None
    closes_at: datetime | None
    review_released: bool
    created_at: datetime
    # Staff only (None for students).
    item_ids: list[UUID] | None = None
    cat: CatSettings | None = None


class ExamUpdate(Request):
    """What a teacher may change once an exam exists: its name, its window, how many attempts,
    and whether students may review their answers now. The form and the mode stay as they are
    (answers refer to them); a new window applies to attempts started afterwards."""

    title: ShortText | None = None
    opens_at: AwareDatetime | None = None
    closes_at: AwareDatetime | None = None
    max_attempts: int | None = Field(default=None, ge=1, le=20)
    review_released: bool | None = None


class ExamList(Response):
    items: list[ExamOut]


class ExamListQuery(Request):
    org_id: UUID | None = None


class Question(Response):
    """What a student sees of an item."""

    item_id: UUID
    position: int
    stem: str
    choices: list[str]
    content_area: str | None = None


class AttemptOut(Response):
    id: UUID
    exam_id: UUID
    mode: ExamMode
    number: int
    status: Literal["active", "submitted"]
    started_at: datetime
    deadline_at: datetime | None
    time_left_s: float | None
    finished_at: datetime | None
    finished_by: str | None
    answered: int
    item_count: int
    # Fixed: every question not yet answered; CBT and CAT: the one current question.
    questions: list[Question]
    # Known once the attempt is submitted.
    score: int | None = None
    max_score: int | None = None
    theta: float | None = None
    se: float | None = None


class AnswerBody(Request):
    item_id: UUID
    choice: int = Field(ge=0, le=9)


class AnswerAck(Response):
    item_id: UUID
    position: int
    answered: int
    # The attempt after this answer: next question(s), or finished.
    attempt: AttemptOut


class ExamSubmit(Request):
    attempt_id: UUID | None = None


class AnswerResult(Response):
    item_id: UUID
    position: int
    choice: int
    correct: bool
    theta: float | None
    se: float | None
    answered_at: datetime


class AttemptResult(Response):
    attempt_id: UUID
    student_id: UUID
    student_name: str
    number: int
    status: str
    started_at: datetime
    finished_at: datetime | None
    finished_by: str | None
    answered: int
    score: int
    max_score: int
    theta: float | None
    se: float | None
    flags: int = 0
    answers: list[AnswerResult] | None = None


class ExamResults(Response):
    exam_id: UUID
    mode: ExamMode
    attempts: list[AttemptResult]


class ResultsQuery(Request):
    student_id: UUID | None = None
    with_answers: bool = False
