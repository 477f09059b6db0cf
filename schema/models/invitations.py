"""Wire models of invitations (codes and links to join a school or class) and roster imports."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from schema.models.accounts import OrgRole
from schema.models.common import Request, Response

MAX_ROSTER_CHARS = 200_000


class InvitationCreate(Request):
    role: OrgRole
    class_id: UUID | None = None
    max_uses: int = Field(default=1, ge=1, le=1000)
    expires_in_hours: int = Field(default=168, ge=1, le=24 * 90)


class InvitationOut(Response):
    id: UUID
    code: str
    link: str
    org_id: UUID
    class_id: UUID | None
    role: OrgRole
    max_uses: int
    uses: int
    expires_at: datetime
    created_at: datetime
    revoked_at: datetime | None


class InvitationList(Response):
    items: list[InvitationOut]


class InvitationRedeem(Request):
    code: str = Field(min_length=4, max_length=40)


class Joined(Response):
    org_id: UUID
    class_id: UUID | None
    role: OrgRole
    already: bool


class RosterImport(Request):
    csv: str = Field(min_length=1, max_length=MAX_ROSTER_CHARS)


class RosterCreated(Response):
    line: int
    email: str
    role: OrgRole
    user_id: UUID
    initial_password: str | None


class RosterSkipped(Response):
    line: int
    email: str
    reason: str


class RosterLink(Response):
    parent_id: UUID
    student_id: UUID


class RosterResult(Response):
    class_id: UUID
    created: list[RosterCreated]
    skipped: list[RosterSkipped]
    links: list[RosterLink]
