"""Wire models of the dashboards: teachers see statistics of their exams (IRT parameters
included); students and parents see results.

The student and parent models have no field for an answer key or an item's IRT parameters,
so a serialiser cannot leak them even if a domain row carries them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from schema.models.common import Request, Response
from schema.models.exams import ExamMode


class TeacherDashboardQuery(Request):
    org_id: UUID | None = None
    exam_id: UUID | None = None
    # The newest exams first; each carries its per-item statistics.
    limit: int = Field(default=20, ge=1, le=100)


class AttemptCounts(Response):
    started: int
    submitted: int
    active: int


class ScoreBucket(Response):
    """Submitted attempts whose score / max_score lies in [lower, upper) (the last: [.9, 1])."""

    lower: float
    upper: float
    count: int


class ScoreCount(Response):
    score: int
    count: int


class ItemStats(Response):
    """One item of the form (or the CAT pool), over submitted attempts."""

    item_id: UUID
    position: int
    content_area: str | None
    answered: int
    correct: int
    # Proportion correct (None: nobody answered it).
    p_value: float | None
    # Correlation of the item (0/1) with the total score; fixed and CBT forms only, and None
    # when either side does not vary.
    point_biserial: float | None
    a: float
    b: float
    c: float
    param_version: int
    drift_flagged: bool


class ExamStats(Response):
    """An exam's attempts. Score, θ and length statistics count submitted attempts only."""

    exam_id: UUID
    org_id: UUID
    class_id: UUID | None
    title: str
    mode: ExamMode
    item_count: int
    created_at: datetime
    attempts: AttemptCounts
    students: int
    mean_score: float | None
    # Mean of score / max_score, 0..1.
    mean_ratio: float | None
    distribution: list[ScoreBucket]
    # Fixed and CBT forms: how many attempts got each score (CAT scores are not comparable).
    score_counts: list[ScoreCount]
    # CAT: mean final θ and SE.
    mean_theta: float | None
    mean_se: float | None
    # Mean number of questions answered (CAT: the mean test length).
    mean_length: float | None
    items: list[ItemStats]


class TeacherDashboard(Response):
    exams: list[ExamStats]


class ThetaStep(Response):
    """The ability estimate after one answer of a CAT attempt."""

    position: int
    theta: float
    se: float
    answered_at: datetime


class AttemptSummary(Response):
    """One attempt as its student (or their parent) sees it: results only, once submitted."""

    attempt_id: UUID
    exam_id: UUID
    exam_title: str
    mode: ExamMode
    number: int
    status: Literal["active", "submitted"]
    started_at: datetime
    finished_at: datetime | None
    finished_by: str | None
    answered: int
    score: int | None
    max_score: int | None
    theta: float | None
    se: float | None
    # CAT, submitted: θ and SE after each answer.
    trajectory: list[ThetaStep]


class ThetaPoint(Response):
    """The final θ of a submitted CAT attempt, for θ over time."""

    attempt_id: UUID
    exam_id: UUID
    exam_title: str
    finished_at: datetime
    theta: float
    se: float | None


class StudentDashboard(Response):
    student_id: UUID
    attempts: list[AttemptSummary]
    theta_history: list[ThetaPoint]


class ChildDashboard(StudentDashboard):
    display_name: str


class ParentDashboard(Response):
    children: list[ChildDashboard]
