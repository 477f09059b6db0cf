"""The load client's reconnection delays (loadtest/lean_client.py): socket.io-client's rule."""

from __future__ import annotations

import errno
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loadtest"))

from lean_client import Backoff, ProtocolError, Refused, failure_reason


class Fixed(random.Random):
    """A generator that always draws `value`."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def test_delays_double_from_the_first_up_to_the_cap() -> None:
    """Without jitter drawn, the delays are first, 2x, 4x ... and never past the cap."""
    backoff = Backoff(first_s=0.5, max_s=5.0, jitter=0.5)
    assert [backoff.delay(a, Fixed(0.0)) for a in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_jitter_scales_each_delay_down_by_at_most_its_share() -> None:
    """The random factor lies in [1 - jitter, 1]: the widest draw halves a delay at jitter 0.5."""
    backoff = Backoff(first_s=1.0, max_s=5.0, jitter=0.5)
    assert backoff.delay(0, Fixed(0.999999)) > 0.5
    assert backoff.delay(3, Fixed(0.999999)) > 2.5
    rng = random.Random(7)
    delays = [backoff.delay(1, rng) for _ in range(1000)]
    assert all(1.0 < d <= 2.0 for d in delays)
    assert len({round(d, 3) for d in delays}) > 100  # spread, not one value


def test_a_huge_attempt_count_stays_at_the_cap() -> None:
    """A client that failed for hours neither overflows nor waits past the cap."""
    assert Backoff(first_s=1.0, max_s=5.0, jitter=0.0).delay(10_000, random.Random(1)) == 5.0


def test_failures_are_named_by_cause() -> None:
    """Refusals by their code, refused upgrades by status, socket errors by errno name."""
    assert (
        failure_reason(Refused({"code": "overloaded", "message": "busy"})) == "refused: overloaded"
    )
    assert failure_reason(ProtocolError("upgrade refused: HTTP/1.1 403")) == (
        "upgrade refused: HTTP/1.1 403"
    )
    assert failure_reason(ConnectionRefusedError(errno.ECONNREFUSED, "no")) == "ECONNREFUSED"
    assert failure_reason(TimeoutError()) == "timeout"
