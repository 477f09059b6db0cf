"""What the fuzzers share: a digest of every table, and generous request budgets.

"Bad input changes nothing" is checked by digesting every table (row count and a hash of every
row's text) before and after each refused call: one query, a few milliseconds on the small
world the fuzzers build.
"""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import pytest

from hub.context import HubContext
from hub.ratelimit import RateLimiter

# Tables a refused call may rightly write: a failed login is audited (hub/accounts/sessions.py).
UNDIGESTED = ("schema_migrations", "audit_log")


class TableDigest:
    """Digests every public table in one round trip; the statement is built once per schema."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._sql: str | None = None
        self._conn: asyncpg.Connection | None = None

    async def __call__(self) -> dict[str, tuple[int, int]]:
        if self._conn is None:
            self._conn = await asyncpg.connect(self.dsn)
        if self._sql is None:
            tables = [
                r["tablename"]
                for r in await self._conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
                )
                if r["tablename"] not in UNDIGESTED
            ]
            self._sql = " UNION ALL ".join(
                f"SELECT '{t}' AS t, count(*) AS n, "
                f"coalesce(sum(hashtextextended(x::text, 0)), 0)::numeric::text AS h "
                f'FROM "{t}" x'
                for t in tables
            )
        rows = await self._conn.fetch(self._sql)
        return {r["t"]: (r["n"], r["h"]) for r in rows}

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


def changed(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    return sorted(t for t in before.keys() | after.keys() if before.get(t) != after.get(t))


@pytest.fixture
def generous_limits(hub_ctx: HubContext) -> Iterator[None]:
    """A fuzzer sends hundreds of requests a minute as one user: lift the per-user budget
    (tested on its own elsewhere) for one test, then give the hub its own limiter back."""
    kept = hub_ctx.rate_limiter
    hub_ctx.rate_limiter = RateLimiter(hub_ctx.redis, 1_000_000, 60)
    yield
    hub_ctx.rate_limiter = kept
