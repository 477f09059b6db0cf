"""Wire models of accounts: auth, users, organizations, links, consents, audit."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import available_timezones

from pydantic import EmailStr, Field, StringConstraints, field_validator, model_validator

from schema.models.common import Name, Request, Response, ShortText

Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
Language = Literal["ko", "en"]
_TIMEZONES = frozenset(available_timezones())


class OrgRole(StrEnum):
    STUDENT = "student"
    PARENT = "parent"
    TEACHER = "teacher"
    TUTOR = "tutor"
    ORG_ADMIN = "org_admin"


def _check_timezone(value: str | None) -> str | None:
    if value is not None and value not in _TIMEZONES:
        raise ValueError(f"'{value}' is not an IANA time zone")
    return value


class SignupConsent(Request):
    kind: Literal["terms_of_service", "privacy_policy", "data_processing", "marketing"]
    version: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    granted: bool


class RegisterRequest(Request):
    email: EmailStr = Field(max_length=254)
    password: Password
    display_name: Name
    language: Language = "ko"
    timezone: str = "Asia/Seoul"
    # Terms, privacy policy and data processing, each granted in its current version
    # (hub/privacy/consent.py); marketing is optional.
    consents: Annotated[list[SignupConsent], Field(max_length=10)]

    _tz = field_validator("timezone")(_check_timezone)


class RegistrationAccepted(Response):
    """The same answer whether or not the e-mail already had an account (issue 13 §4)."""

    status: Literal["accepted"]
    message: str


class LoginRequest(Request):
    email: EmailStr = Field(max_length=254)
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    # Granted again after a withdrawal, or at the first sign-in of an account a school made
    # (`consent_required` names the kinds): recorded once the password is right.
    consents: Annotated[list[SignupConsent], Field(max_length=10)] | None = None


class ErasureByCredentials(Request):
    """Erasure for a person who cannot sign in (a required consent withdrawn)."""

    email: EmailStr = Field(max_length=254)
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    confirm: Literal["erase my account"]


class RefreshRequest(Request):
    refresh_token: Annotated[str, StringConstraints(min_length=16, max_length=200)]


class TokenPair(Response):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class MembershipOut(Response):
    org_id: UUID
    zone_id: UUID
    role: OrgRole


class UserOut(Response):
    id: UUID
    email: str
    display_name: str
    language: Language
    timezone: str
    is_sys_admin: bool
    admin_zone_ids: list[UUID]
    memberships: list[MembershipOut]
    created_at: datetime


class UpdateMeRequest(Request):
    display_name: Name | None = None
    language: Language | None = None
    timezone: str | None = None
    current_password: Annotated[str, StringConstraints(max_length=128)] | None = None
    new_password: Password | None = None

    _tz = field_validator("timezone")(_check_timezone)

    @model_validator(mode="after")
    def _password_change_needs_current(self) -> UpdateMeRequest:
        if self.new_password is not None and not self.current_password:
            raise ValueError("current_password is required to set new_password")
        return self


class EraseAccountRequest(Request):
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    confirm: Literal["erase my account"]


class ZoneOut(Response):
    id: UUID
    slug: str
    name: str


class ZoneList(Response):
    items: list[ZoneOut]


class OrganizationCreate(Request):
    zone_id: UUID
    name: ShortText
    kind: Literal["school", "academy", "other"] = "school"


class OrganizationOut(Response):
    id: UUID
    zone_id: UUID
    name: str
    kind: str
    created_at: datetime
    member_count: int


class OrganizationSettings(Request):
    """What an organization decides for itself. `profanity`: mask it, refuse the message,
    or let it through."""

    profanity: Literal["mask", "refuse", "off"] = "mask"


class OrganizationSettingsOut(Response):
    profanity: Literal["mask", "refuse", "off"] = "mask"


class MemberAdd(Request):
    """Another role for someone already in the organization; newcomers join by invitation."""

    user_id: UUID
    role: OrgRole


class MemberOut(Response):
    org_id: UUID
    user_id: UUID
    role: OrgRole
    display_name: str


class MemberList(Response):
    items: list[MemberOut]


class ClassCreate(Request):
    name: ShortText


class ClassOut(Response):
    id: UUID
    org_id: UUID
    name: str
    member_count: int


class ClassList(Response):
    items: list[ClassOut]


class LinkStudentRequest(Request):
    student_email: EmailStr = Field(max_length=254)


class LinkOut(Response):
    id: UUID
    org_id: UUID
    parent_id: UUID
    student_id: UUID
    status: Literal["pending", "approved", "rejected", "expired"]
    requested_at: datetime
    expires_at: datetime
    answered_at: datetime | None


class LinkRequested(Response):
    """The same answer whatever the e-mail: nothing is revealed before the student approves."""

    status: Literal["requested"]
    message: str


class LinkList(Response):
    items: list[LinkOut]


ConsentKind = Literal[
    "privacy_policy", "terms_of_service", "marketing", "push_notifications", "data_processing"
]


class ConsentCreate(Request):
    kind: ConsentKind
    version: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    granted: bool
    # A parent with an approved link decides for their child (hub/privacy/consent.py).
    user_id: UUID | None = None


class ConsentOut(Response):
    id: int
    user_id: UUID
    kind: ConsentKind
    version: str
    granted: bool
    source: Literal["self", "parent", "school"]
    recorded_at: datetime


class ConsentList(Response):
    items: list[ConsentOut]


class AuditEntryOut(Response):
    id: int
    at: datetime
    actor_id: UUID | None
    action: str
    target_type: str | None
    target_id: str | None
    zone_id: UUID | None
    org_id: UUID | None
    ip: str | None
    details: dict[str, Any]


class AuditPage(Response):
    items: list[AuditEntryOut]
    next_before_id: int | None
