"""How much an exam client's event matters: pure rules, no I/O.

Flags are data for a human, never automatic penalties. Each kind has a base severity:

* serious: `devtools_opened` (the page itself is being inspected or changed);
* warning: leaving the exam (`focus_lost`, `tab_hidden`, `fullscreen_exit`) and the clipboard
  (`copy`, `paste`);
* info: everything else (`reconnect`, coming back with `focus_returned`, `tab_visible`).

Escalation: every ESCALATE_EVERY-th warning-level event of one attempt (the 5th, 10th, ...)
is recorded as serious, because a pattern deserves the attention one slip does not. Serious
events reach the student's parents as an alert; the teacher sees every warning and serious one
live.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from schema.models.proctor import Severity

ESCALATE_EVERY: Final = 5

BASE_SEVERITY: Final[Mapping[str, Severity]] = {
    "devtools_opened": "serious",
    "focus_lost": "warning",
    "tab_hidden": "warning",
    "fullscreen_exit": "warning",
    "copy": "warning",
    "paste": "warning",
    "reconnect": "info",
    "focus_returned": "info",
    "tab_visible": "info",
}

WARNING_KINDS: Final = tuple(k for k, s in BASE_SEVERITY.items() if s == "warning")


def base_severity(kind: str) -> Severity:
    return BASE_SEVERITY.get(kind, "info")


def severity_of(kind: str, earlier_warnings: int, every: int = ESCALATE_EVERY) -> Severity:
    """The severity to record, given how many warning-level events the attempt already had."""
    base = base_severity(kind)
    if base == "warning" and (earlier_warnings + 1) % every == 0:
        return "serious"
    return base


def is_flag(severity: Severity) -> bool:
    """Whether the teacher's dashboard hears about it as it happens."""
    return severity != "info"
