"""The migration runner: ordered, recorded, locked against concurrent runners."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from schema.migrate import MigrationError, discover, migrate
from tests.conftest import _with_database


@pytest.fixture
async def empty_database(servers: tuple[str, str]) -> AsyncIterator[str]:
    admin = await asyncpg.connect(servers[0])
    name = f"ds_mig_{secrets.token_hex(4)}"
    await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        yield _with_database(servers[0], name)
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_two_runners_at_once_apply_each_migration_once(empty_database: str) -> None:
    """Two runners at once: one applies everything, the other waits and finds nothing."""
    first, second = await asyncio.gather(
        migrate(empty_database, "dreamseed_app"), migrate(empty_database, "dreamseed_app")
    )
    expected = [m.name for m in discover()]
    assert sorted([first, second], key=len) == [[], expected]
    conn = await asyncpg.connect(empty_database)
    try:
        rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [r["version"] for r in rows] == [m.version for m in discover()]
    assert await migrate(empty_database, "dreamseed_app") == []


async def test_edited_migration_is_detected(empty_database: str, tmp_path: Path) -> None:
    """Changing a file after it was applied stops the runner with a message naming it."""
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE t1 (id int);")
    assert await migrate(empty_database, "dreamseed_app", tmp_path) == ["0001_first"]
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE t1 (id bigint);")
    with pytest.raises(MigrationError, match="0001_first"):
        await migrate(empty_database, "dreamseed_app", tmp_path)


async def test_failed_migration_rolls_back_and_is_not_recorded(
    empty_database: str, tmp_path: Path
) -> None:
    """A failing file leaves no half-applied schema and no record; the ones before it stay."""
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE ok (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT * FROM nowhere;")
    with pytest.raises(asyncpg.UndefinedTableError):
        await migrate(empty_database, "dreamseed_app", tmp_path)
    conn = await asyncpg.connect(empty_database)
    try:
        names = [r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")]
        half = await conn.fetchval("SELECT to_regclass('half')")
    finally:
        await conn.close()
    assert names == ["0001_ok"] and half is None


def test_bad_file_names_are_refused(tmp_path: Path) -> None:
    """Files must be NNNN_words.sql with unique numbers."""
    (tmp_path / "1_x.sql").write_text("")
    with pytest.raises(MigrationError, match=r"1_x\.sql"):
        discover(tmp_path)
    (tmp_path / "1_x.sql").unlink()
    (tmp_path / "0001_a.sql").write_text("")
    (tmp_path / "0001_b.sql").write_text("")
    with pytest.raises(MigrationError, match="share a number"):
        discover(tmp_path)
