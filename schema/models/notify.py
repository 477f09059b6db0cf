"""Wire models of notifications: devices, settings, the notification center."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import available_timezones

from pydantic import Field, StringConstraints, field_validator, model_validator

from schema.models.common import IsoDateTime, LocalTime, Request, Response

_TIMEZONES = frozenset(available_timezones())


class DeviceRegister(Request):
    platform: Literal["android", "ios", "web"]
    token: Annotated[str, StringConstraints(min_length=20, max_length=4096, pattern=r"^[\w:.\-]+$")]


class DeviceOut(Response):
    token: str
    platform: str
    created_at: datetime
    last_seen_at: datetime


class ConversationNotificationSettings(Request):
    muted: bool = False
    push: bool = True
    email: bool = False


class ConversationNotificationSettingsOut(Response):
    muted: bool
    push: bool
    email: bool


class NotificationPreferences(Request):
    """Quiet hours (both or neither, local time), the unread-digest delay, language and zone."""

    quiet_start: LocalTime | None = None
    quiet_end: LocalTime | None = None
    digest_delay_s: Annotated[int, Field(ge=300, le=604800)] = 3600
    email_digest: bool = True
    language: Literal["ko", "en"] | None = None
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and value not in _TIMEZONES:
            raise ValueError(f"'{value}' is not an IANA time zone")
        return value

    @model_validator(mode="after")
    def _both_or_neither(self) -> NotificationPreferences:
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValueError("give both quiet_start and quiet_end, or neither")
        return self


class NotificationPreferencesOut(Response):
    language: str
    timezone: str
    quiet_start: LocalTime | None
    quiet_end: LocalTime | None
    digest_delay_s: int
    email_digest: bool


class NotificationsQuery(Request):
    before: IsoDateTime | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 30
    unread_only: bool = False


class NotificationOut(Response):
    id: UUID
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    urgent: bool
    created_at: datetime
    read_at: datetime | None


class NotificationPage(Response):
    items: list[NotificationOut]
    unread: int


class Badge(Response):
    unread: int
