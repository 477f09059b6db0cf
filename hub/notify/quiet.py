"""Quiet hours: pure time arithmetic, in the user's own time zone."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo


def in_quiet_hours(now_utc: datetime, tz: str, start: time | None, end: time | None) -> bool:
    """True when `now_utc` falls in [start, end) local time; windows may cross midnight."""
    if start is None or end is None or start == end:
        return False
    local = now_utc.astimezone(ZoneInfo(tz)).time().replace(tzinfo=None)
    if start < end:
        return start <= local < end
    return local >= start or local < end
