"""Load shedding: a cap on the work one hub process runs at once, and on one caller's share.

Without it an overloaded hub queues without bound: python-socketio starts a task per event,
uvicorn a task per request, and each waits on the database pool. At 1,000 msg/s on a saturated
hub, 45,000 sends were still unanswered 20 s after the load stopped, and the event loop was
too slow to refresh its own presence heartbeat (loadtest/README.md). Past the cap a caller is
answered at once with a retryable `overloaded` and `retry_after`, which costs nothing.

Counting only: a slot is taken and given back in this process, no lock and no I/O, so the
check is as cheap as the refusal it makes possible.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from hub import metrics
from hub.errors import DomainError, ErrorCode

RETRY_AFTER_S = 1


@dataclass
class Admission:
    """In-flight work of this process (`limit`, socket events and REST requests together)
    and of each caller (a connection `sid:...` or a client address `ip:...`)."""

    limit: int
    running: int = 0
    _callers: dict[str, int] = field(default_factory=dict)

    def try_enter(self, caller: str, per_caller: int) -> bool:
        """Take a slot for `caller`; False (and nothing taken) when the process already runs
        `limit` or the caller `per_caller`."""
        mine = self._callers.get(caller, 0)
        if self.running >= self.limit or mine >= per_caller:
            return False
        self.running += 1
        self._callers[caller] = mine + 1
        return True

    def leave(self, caller: str) -> None:
        self.running -= 1
        left = self._callers[caller] - 1
        if left:
            self._callers[caller] = left
        else:
            del self._callers[caller]  # a caller with nothing running costs no memory

    @contextmanager
    def slot(self, caller: str, per_caller: int, where: str) -> Iterator[None]:
        """Run the body in a slot, or raise `overloaded` without running it."""
        if not self.try_enter(caller, per_caller):
            raise overloaded(where)
        try:
            yield
        finally:
            self.leave(caller)


def overloaded(where: str) -> DomainError:
    """The refusal (each transport counts it as an error where it shapes it)."""
    metrics.SHED.labels(where).inc()
    return DomainError(
        ErrorCode.OVERLOADED, "The hub is busy; retry shortly", retry_after=RETRY_AFTER_S
    )
