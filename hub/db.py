"""PostgreSQL access. Every query runs in a transaction that says who is acting.

The pool's connections log in as the URL's user but act as the application role
(`role` startup parameter), which row-level security binds. `acting(user_id)` sets the acting
user for one transaction; `system()` steps back to the login role for the few operations that
must cross tenants on purpose (login, token refresh, scheduled jobs, seeding).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# The stubs make the proxy generic; at run time it is not, so the alias stays a string.
Connection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"


async def _init_connection(conn: asyncpg.Connection) -> None:
    for jtype in ("json", "jsonb"):
        await conn.set_type_codec(
            jtype, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on release (one round trip per use of the pool).

    Safe because the hub sets nothing at session level: the acting user is SET LOCAL, the
    role comes from the startup packet, and asyncpg still rolls back an open transaction.
    """


class Database:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def connect(
        cls, dsn: str, app_role: str, *, min_size: int = 2, max_size: int = 10
    ) -> Database:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            init=_init_connection,
            reset=_keep_session,
            server_settings={"role": app_role, "application_name": "dreamseed-hub"},
        )
        return cls(pool)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def acting(self, user_id: UUID) -> AsyncIterator[Connection]:
        """A transaction on behalf of `user_id`: RLS shows only what that user may see."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT set_config('app.user_id', $1, true)", str(user_id))
            yield conn

    @asynccontextmanager
    async def acting_lean(self, user_id: UUID) -> AsyncIterator[Connection]:
        """`acting` for hot paths: BEGIN and the acting user in one round trip.

        No nested `conn.transaction()` (savepoints) inside: asyncpg refuses them in a
        transaction it did not start.
        """
        async with self.pool.acquire() as conn:
            # A UUID has one textual form, so inlining it cannot inject anything.
            await conn.execute(f"BEGIN; SET LOCAL app.user_id = '{UUID(str(user_id))}'")
            try:
                yield conn
            except BaseException:
                if not conn.is_closed():
                    try:
                        await conn.execute("ROLLBACK")
                    except (asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError):
                        # The connection is mid-operation or broken (the server went away):
                        # never hand it out again; the original error is the one to raise.
                        conn.terminate()
                raise
            await conn.execute("COMMIT")

    @asynccontextmanager
    async def anonymous(self) -> AsyncIterator[Connection]:
        """A transaction with no acting user: tenant rows are invisible."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def system(self) -> AsyncIterator[Connection]:
        """A transaction as the login role, outside RLS. Use only where a rule says so."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL ROLE NONE")
            yield conn

    async def ping(self) -> bool:
        async with self.pool.acquire() as conn:
            return bool(await conn.fetchval("SELECT 1"))


async def fetch_returning(conn: Connection, query: str, *args: Any) -> asyncpg.Record:
    """fetchrow for an INSERT/UPDATE ... RETURNING that must produce a row."""
    row = await conn.fetchrow(query, *args)
    if row is None:
        raise RuntimeError(f"Expected a row from: {query.strip()[:80]}")
    return row
