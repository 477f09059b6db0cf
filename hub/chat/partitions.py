"""Monthly partitions of `messages`: made ahead, made on demand, and archived.

`messages` is partitioned by month of `created_at` (schema/migrations/0009_partitions.sql).
The hot months are those after the archive cutoff (settings.message_archive_after_days):
the hot paths bound their queries to them with `hot_since`, so PostgreSQL prunes the rest.

"Archive" here means: a whole month older than the cutoff, moved to the archive tablespace
(ops put it on cheaper storage) and still a partition of `messages`, so history, sync, search
and exports read it like any other month. The move is DETACH PARTITION CONCURRENTLY (sends
and reads never wait for it), SET TABLESPACE on the detached table (nobody reads it then),
and ATTACH PARTITION back (SHARE UPDATE EXCLUSIVE: sends and reads do not wait either; the
CHECK constraint the detach left proves the range, so nothing is scanned). While the month is
detached it is missing from `messages`: readers that may reach archived months take the
archive lock shared first (`reading_archive`), so they wait for the move to end instead of
missing a month; the hot paths never take it and never wait.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import asyncpg

from hub import metrics
from hub.context import HubContext
from hub.db import Connection
from hub.settings import Settings

# pg_advisory_lock key: "DSARCHIV" read as a big-endian int64.
ARCHIVE_LOCK = int.from_bytes(b"DSARCHIV", "big", signed=True)
_PREFIX = "messages_p"


@dataclass(frozen=True)
class Partition:
    name: str
    month: date
    tablespace: str
    attached: bool
    archived: bool


@dataclass(frozen=True)
class ArchiveResult:
    partition: str
    tablespace: str
    row_count: int
    seconds: float


def month_start(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def add_months(month: datetime, n: int) -> datetime:
    index = month.year * 12 + month.month - 1 + n
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def hot_since(now: datetime, settings: Settings) -> datetime:
    """The start of the oldest month not due for the archive: hot queries read from here on.

    A bound, not a truth: a message is in a month by its `created_at`, and callers check
    that what they read is complete (seqs are gap-free) before trusting a bounded page."""
    return month_start(now - timedelta(days=settings.message_archive_after_days))


def is_missing_partition(exc: BaseException) -> bool:
    """The insert found no month for its row (no partition was made ahead)."""
    return isinstance(exc, asyncpg.CheckViolationError) and "no partition of relation" in str(exc)


async def create_on_demand(ctx: HubContext) -> str:
    """The current month's partition, made now because a send found none (counted)."""
    # app_message_partition runs as the schema's owner (SECURITY DEFINER); no acting user.
    async with ctx.db.anonymous() as conn:
        name: str = await conn.fetchval("SELECT app_message_partition(now())")
    metrics.MESSAGE_PARTITIONS.labels("created_on_demand").inc()
    return name


async def reading_archive(conn: Connection) -> None:
    """Wait for a month being moved to the archive to be back. Call it first in a transaction
    that may read archived months (before it touches `messages`: the move's DETACH waits for
    transactions that did, and one waiting here would deadlock with it)."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", ARCHIVE_LOCK)


async def partitions(conn: Connection | asyncpg.Connection) -> list[Partition]:
    """Every month's table, attached or (after a crash mid-move) not, oldest first."""
    rows = await conn.fetch(
        """SELECT c.relname AS name, c.relispartition AS attached,
                  coalesce(t.spcname, 'pg_default') AS tablespace,
                  EXISTS (SELECT 1 FROM message_archives a WHERE a.partition = c.relname)
                      AS archived
           FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
           LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace
           WHERE c.relkind = 'r' AND c.relname ~ '^messages_p[0-9]{4}_[0-9]{2}$'
           ORDER BY c.relname"""
    )
    return [
        Partition(
            r["name"],
            date(int(r["name"][10:14]), int(r["name"][15:17]), 1),
            r["tablespace"],
            r["attached"],
            r["archived"],
        )
        for r in rows
    ]


async def create_ahead(ctx: HubContext) -> int:
    """The current month and settings.message_partitions_ahead months after it: returns how
    many were made. Idempotent; the worker runs it daily and at start-up."""
    now = month_start(ctx.clock())
    ahead = ctx.settings.message_partitions_ahead
    async with ctx.db.system() as conn:
        before = {p.name for p in await partitions(conn)}
        for n in range(ahead + 1):
            await conn.fetchval("SELECT app_message_partition($1)", add_months(now, n))
        after = await partitions(conn)
    made = len({p.name for p in after} - before)
    metrics.MESSAGE_PARTITIONS.labels("created_ahead").inc(made)
    months = {p.month for p in after if p.attached}
    lead = 0
    while add_months(now, lead + 1).date() in months:
        lead += 1
    metrics.MESSAGE_MONTHS_AHEAD.set(lead)
    return made


async def prune_keys(ctx: HubContext) -> int:
    """Idempotency keys past their window, in batches (each a short statement)."""
    total = 0
    cutoff = ctx.clock() - timedelta(days=ctx.settings.message_key_days)
    while True:
        async with ctx.db.system() as conn:
            status = await conn.execute(
                """DELETE FROM message_keys WHERE ctid IN (
                       SELECT ctid FROM message_keys WHERE created_at < $1 LIMIT $2)""",
                cutoff,
                ctx.settings.retention_batch,
            )
        count = int(status.split()[-1])
        total += count
        if count < ctx.settings.retention_batch:
            return total


async def archive_due(ctx: HubContext) -> list[ArchiveResult]:
    """Move every month older than the cutoff that is not archived yet (and finish a move a
    crash interrupted). Idempotent; one archiver at a time."""
    cutoff = hot_since(ctx.clock(), ctx.settings).date()
    async with ctx.db.system() as conn:
        due = [p for p in await partitions(conn) if p.month < cutoff and not p.archived]
    return [await archive_month(ctx, p.name) for p in due]


async def archive_month(ctx: HubContext, name: str) -> ArchiveResult:
    """Move one month to the archive tablespace; see the module docstring for the steps."""
    tablespace = ctx.settings.message_archive_tablespace
    # Its own connection as the login (owner) role, outside any transaction: DETACH
    # CONCURRENTLY refuses to run in one, and the pool's connections act as the app role.
    conn = await asyncpg.connect(ctx.settings.postgres_dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", ARCHIVE_LOCK)
        try:
            return await _move(conn, name, tablespace)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", ARCHIVE_LOCK)
    finally:
        await conn.close()


async def _move(conn: asyncpg.Connection, name: str, tablespace: str) -> ArchiveResult:
    table = _ident(name)
    month = date(int(name[10:14]), int(name[15:17]), 1)
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    bounds = f"FOR VALUES FROM ('{start.isoformat()}') TO ('{add_months(start, 1).isoformat()}')"
    rows: int = await conn.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608
    began = time.monotonic()
    state = await conn.fetchrow(
        """SELECT c.relispartition AS attached, i.inhdetachpending AS pending
           FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
           WHERE c.oid = $1::regclass""",
        name,
    )
    assert state is not None  # noqa: S101 - count(*) above found the table
    if state["pending"]:  # a crash between the detach's two transactions
        await conn.execute(f"ALTER TABLE messages DETACH PARTITION {table} FINALIZE")
    elif state["attached"]:
        await conn.execute(f"ALTER TABLE messages DETACH PARTITION {table} CONCURRENTLY")
    await conn.execute(f"ALTER TABLE {table} SET TABLESPACE {_ident(tablespace)}")
    for index in await conn.fetch(
        "SELECT indexrelid::regclass::text AS name FROM pg_index WHERE indrelid = $1::regclass",
        name,
    ):
        await conn.execute(
            f"ALTER INDEX {_ident(index['name'])} SET TABLESPACE {_ident(tablespace)}"
        )
    await conn.execute(f"ALTER TABLE messages ATTACH PARTITION {table} {bounds}")
    seconds = time.monotonic() - began
    await conn.execute(
        """INSERT INTO message_archives (partition, month, tablespace, row_count, seconds)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (partition) DO NOTHING""",
        name,
        month,
        tablespace,
        rows,
        seconds,
    )
    metrics.MESSAGE_PARTITIONS.labels("archived").inc()
    return ArchiveResult(name, tablespace, rows, seconds)


def _ident(name: str) -> str:
    if not name.replace("_", "a").isalnum() or not name.isascii():
        raise ValueError(f"Name '{name}' is not a plain identifier")
    return f'"{name}"'
