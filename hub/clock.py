"""Time as the domain sees it; tests replace it to move through days without sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def wire_time(value: datetime) -> str:
    """A time as every transport writes it: ISO 8601 in UTC with `Z`, as pydantic writes the
    REST models' datetimes, so REST and socket payloads carry the same text."""
    text = value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
