"""Base classes of every wire model: strict about unknown fields, bounded strings."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)


class Request(BaseModel):
    """A body the client sends: unknown fields are an error, not silently dropped, and no
    string anywhere in it may hold U+0000 (PostgreSQL text cannot: it would be a 500)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    # True only where the domain cleans the text itself (an uploaded file's name).
    nul_cleaned_downstream: ClassVar[bool] = False

    @model_validator(mode="before")
    @classmethod
    def _no_nul_anywhere(cls, data: Any) -> Any:
        if not cls.nul_cleaned_downstream and _holds_nul(data):
            raise ValueError("strings must not contain NUL characters")
        return data


def _holds_nul(value: Any, depth: int = 0) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if depth > 8:  # deeper nesting is refused by the models themselves
        return False
    if isinstance(value, dict):
        return any(_holds_nul(k, depth + 1) or _holds_nul(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_holds_nul(v, depth + 1) for v in value)
    return False


class Response(BaseModel):
    # Fields a domain row carries beyond the declared ones are dropped, never sent.
    model_config = ConfigDict(extra="ignore", from_attributes=True)


class ErrorBody(Response):
    code: str
    message: str


class ErrorEnvelope(Response):
    error: ErrorBody


class Ok(Response):
    ok: bool = True


ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]


_NUMBER = re.compile(r"^\s*[-+]?[\d.]+([eE][-+]?\d+)?\s*$")


def _iso_only(value: Any) -> Any:
    # pydantic reads a bare number as Unix seconds: "before=0.5" would mean 1970.
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMBER.match(value)):
        raise ValueError("expected an ISO 8601 date-time such as 2026-03-01T09:00:00Z")
    return value


# A date-time given as ISO 8601 text, never as a number.
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only)]

# A wall-clock time of day in the user's own time zone, sent as "HH:MM:SS" (no offset, so not
# JSON Schema's `format: time`, which is RFC 3339 full-time and requires one).
LocalTime = Annotated[
    time,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$",
            "description": "local time of day, HH:MM or HH:MM:SS, in the user's time zone",
        }
    ),
]
