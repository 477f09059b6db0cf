"""The restore drill on the embedded server: dump, destroy, restore, every message and seq
intact; then the erasures made since the backup are re-applied from the kept list."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hub.bus import NullBus
from hub.context import HubContext
from hub.embedded import EmbeddedServices
from hub.privacy import backups, erase
from hub.privacy.requests import Requester, open_erasure
from hub.services import close_context, open_context
from hub.settings import Settings
from schema.migrate import migrate

DRILL_DB = "drill"


@pytest.fixture(scope="module")
def embedded() -> Iterator[tuple[str, str]]:
    # Not under pytest's basetemp: that is private to root (0700), and the embedded server
    # runs as its own user, which must reach its data folder.
    folder = Path(tempfile.mkdtemp(prefix="ds-drill-"))
    folder.chmod(0o755)
    services = EmbeddedServices(folder)
    urls = services.start(database=DRILL_DB)
    try:
        yield urls
    finally:
        services.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def _context(urls: tuple[str, str], data_dir: Path) -> HubContext:
    settings = Settings(
        database_url=urls[0],
        redis_url=urls[1],
        jwt_secret=secrets.token_urlsafe(40),
        data_dir=data_dir,
        redis_namespace="drill",
        db_pool_min=1,
        db_pool_max=4,
    )
    return await open_context(settings, NullBus())


async def _seed(url: str) -> None:
    """A school with two conversations of 150 messages each, one of them by the person."""
    conn = await asyncpg.connect(url)
    try:
        zone = await conn.fetchval("SELECT id FROM zones WHERE slug = 'kzone'")
        org = await conn.fetchval(
            "INSERT INTO organizations (zone_id, name) VALUES ($1, 'Drill') RETURNING id", zone
        )
        people = [
            await conn.fetchval(
                """INSERT INTO users (email, password_hash, display_name)
                   VALUES ($1, '!', $2) RETURNING id""",
                f"{name}@drill.example",
                name,
            )
            for name in ("person", "friend")
        ]
        for _ in range(2):
            conv = await conn.fetchval(
                """INSERT INTO conversations (zone_id, org_id, kind, title, last_seq, change_seq)
                   VALUES ($1, $2, 'group', 'room', 150, 150) RETURNING id""",
                zone,
                org,
            )
            await conn.execute(
                """INSERT INTO messages (conversation_id, zone_id, org_id, seq, change_seq,
                                         sender_id, client_msg_id, content)
                   SELECT $1::uuid, $2, $3, s, s, ($4::uuid[])[1 + s % 2],
                          $1::uuid::text || ':' || s, '메시지 ' || s
                   FROM generate_series(1, 150) s""",
                conv,
                zone,
                org,
                people,
            )
    finally:
        await conn.close()


async def _messages(url: str) -> list[tuple[object, ...]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """SELECT m.id, m.conversation_id, m.seq, m.change_seq, m.content, c.last_seq
               FROM messages m JOIN conversations c ON c.id = m.conversation_id
               ORDER BY m.conversation_id, m.seq"""
        )
        return [tuple(r) for r in rows]
    finally:
        await conn.close()


async def _value(url: str, sql: str, *args: object) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def _recreate(admin_url: str) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE "{DRILL_DB}" WITH (FORCE)')
        await admin.execute(f"CREATE DATABASE \"{DRILL_DB}\" TEMPLATE template0 ENCODING 'UTF8'")
    finally:
        await admin.close()


@pytest.fixture
async def drill_url(embedded: tuple[str, str]) -> AsyncIterator[str]:
    url = embedded[0]
    await _recreate(url.replace(f"/{DRILL_DB}?", "/postgres?", 1))
    await migrate(url, "dreamseed_app")
    yield url


async def test_dump_destroy_restore_keeps_every_message_and_seq_and_reapplies_erasures(
    embedded: tuple[str, str], drill_url: str, tmp_path: Path
) -> None:
    """A restore brings back every message in order; the kept erasure list erases again."""
    await _seed(drill_url)
    before = await _messages(drill_url)
    assert len(before) == 300
    archive = tmp_path / "drill.dump"
    await backups.dump(drill_url, archive)

    person = await _value(drill_url, "SELECT id FROM users WHERE email = 'person@drill.example'")
    ctx = await _context(embedded, tmp_path / "data")
    try:
        async with ctx.db.system() as conn:
            erasure = await open_erasure(conn, ctx, person, None, Requester.SYS_ADMIN)
        await erase.run(ctx, erasure.id)
        kept = await backups.erased_subjects(ctx)
    finally:
        await close_context(ctx)
    assert kept == [person]

    await _recreate(drill_url.replace(f"/{DRILL_DB}?", "/postgres?", 1))
    await backups.restore(drill_url, archive)
    assert await _messages(drill_url) == before  # every message, seq and change intact

    ctx = await _context(embedded, tmp_path / "data")
    try:
        assert await backups.reapply(ctx, kept) == 1
        assert await backups.reapply(ctx, kept) == 0
    finally:
        await close_context(ctx)
    left = await _value(
        drill_url, "SELECT count(*) FROM messages WHERE sender_id = $1 AND content <> ''", person
    )
    email = await _value(drill_url, "SELECT email FROM users WHERE id = $1", person)
    assert left == 0 and email == f"erased-{person}@invalid"
    after = await _messages(drill_url)
    assert [r[:3] for r in after] == [r[:3] for r in before]
