"""Applies the numbered SQL files in schema/migrations/, once each, in order.

Each file runs in its own transaction and is recorded with a checksum. A session-level
advisory lock serialises runners, so two hub processes starting together cannot race:
the second waits, then finds nothing left to do.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# pg_advisory_lock key: "DSMIGRAT" read as a big-endian int64.
ADVISORY_LOCK_KEY = int.from_bytes(b"DSMIGRAT", "big", signed=True)
_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(Exception):
    """The migrations on disk disagree with those recorded in the database."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"Migration file '{path.name}' must be named NNNN_words.sql")
        migrations.append(Migration(int(match.group(1)), path.stem, path.read_text("utf-8")))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"Two migration files share a number: {versions}")
    return migrations


async def migrate(dsn: str, app_role: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations as the connecting (owner) role; return the names applied."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
        try:
            return await _apply_pending(conn, app_role, discover(directory))
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
    finally:
        await conn.close()


async def _apply_pending(
    conn: asyncpg.Connection, app_role: str, migrations: list[Migration]
) -> list[str]:
    await conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version     integer PRIMARY KEY,
               name        text NOT NULL,
               checksum    text NOT NULL,
               applied_at  timestamptz NOT NULL DEFAULT now())"""
    )
    recorded = {
        r["version"]: r
        for r in await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
    }
    applied: list[str] = []
    for migration in migrations:
        done = recorded.get(migration.version)
        if done is not None:
            if done["checksum"] != migration.checksum:
                raise MigrationError(
                    f"Migration '{migration.name}' changed after it was applied; "
                    "add a new migration instead of editing it"
                )
            continue
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
        applied.append(migration.name)
    await _grant_app_role(conn, app_role)
    return applied


async def _grant_app_role(conn: asyncpg.Connection, app_role: str) -> None:
    """Create the application's RLS-bound role and give it the data, never the schema."""
    role = _quote_ident(app_role)
    async with conn.transaction():
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", app_role)
        if not exists:
            try:
                async with conn.transaction():
                    await conn.execute(f"CREATE ROLE {role} NOLOGIN NOBYPASSRLS")
            except (asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
                pass  # another database's runner on the same cluster made it first
        await conn.execute(f"GRANT {role} TO CURRENT_USER")
        await conn.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        await conn.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
        )
        await conn.execute(f"REVOKE ALL ON schema_migrations FROM {role}")
        await conn.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
        await conn.execute(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {role}")
        # The answer key of items is read only through app_item_key() (migration 0012):
        # every column of items but `answer`, so a column added later is readable too.
        columns = await conn.fetch(
            """SELECT column_name FROM information_schema.columns
               WHERE table_schema = 'public' AND table_name = 'items'
                 AND column_name <> 'answer' ORDER BY ordinal_position"""
        )
        if columns:
            readable = ", ".join(_quote_ident(c["column_name"]) for c in columns)
            await conn.execute(f"REVOKE SELECT ON items FROM {role}")  # noqa: S608
            await conn.execute(f"GRANT SELECT ({readable}) ON items TO {role}")


def _quote_ident(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise MigrationError(f"Role name '{name}' is not a plain lower-case identifier")
    return f'"{name}"'
