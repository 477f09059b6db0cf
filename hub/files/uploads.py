"""Receiving a file: who may upload where, the size limit and daily quota, the built-in checks,
and storing the bytes once per organization and content.

The transport streams the body into a `Spool` (hub/files/spool.py); `accept` then inspects it
off the event loop, stores it (or finds the same bytes already stored), records it as
`pending` and queues the worker's checks. A refused upload stores nothing and records nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from hub import metrics
from hub.context import Actor, HubContext
from hub.db import Connection, fetch_returning
from hub.errors import DomainError, ErrorCode, forbidden
from hub.files import names
from hub.files.inspection import Inspection, inspect_file
from hub.files.records import FILE_COLUMNS, FileWire, file_wire
from hub.files.refusals import FileRefusedError
from hub.files.spool import too_large
from hub.files.storage import StorageError
from hub.files.types import State


@dataclass(frozen=True)
class UploadTarget:
    """Where an upload goes: the organization it belongs to."""

    org_id: UUID
    zone_id: UUID


def spool_dir(ctx: HubContext) -> Path:
    return ctx.settings.data_dir / "uploads"


async def prepare(
    ctx: HubContext, actor: Actor, org_id: UUID | None, declared: int | None
) -> UploadTarget:
    """Refuse early, before a byte is read: the size declared, the quota, the organization."""
    limit = ctx.settings.file_max_bytes
    if declared is not None and declared > limit:
        metrics.FILES.labels("refused", "size").inc()
        raise too_large(limit)
    target = await _target(ctx, actor, org_id)
    used = await quota_used(ctx, actor.user_id)
    if used + (declared or 0) > ctx.settings.file_daily_quota_bytes:
        metrics.FILES.labels("refused", "quota").inc()
        raise DomainError(
            ErrorCode.QUOTA_EXCEEDED,
            f"Daily upload quota of {ctx.settings.file_daily_quota_bytes} bytes reached "
            f"({used} used today)",
            used=used,
            quota=ctx.settings.file_daily_quota_bytes,
        )
    return target


async def _target(ctx: HubContext, actor: Actor, org_id: UUID | None) -> UploadTarget:
    async with ctx.db.acting(actor.user_id) as conn:
        rows = await conn.fetch(
            "SELECT DISTINCT org_id, zone_id FROM memberships WHERE user_id = $1", actor.user_id
        )
    orgs = {r["org_id"]: UploadTarget(r["org_id"], r["zone_id"]) for r in rows}
    if org_id is not None:
        if org_id not in orgs:
            raise forbidden("You can only upload files to an organization you belong to")
        return orgs[org_id]
    if len(orgs) != 1:
        raise DomainError(
            ErrorCode.VALIDATION,
            f"org_id is required: you belong to {len(orgs)} organizations",
            field="org_id",
        )
    return next(iter(orgs.values()))


def _day_key(ctx: HubContext, user_id: UUID) -> str:
    return ctx.keys.file_quota(user_id, ctx.clock().date().isoformat())


async def quota_used(ctx: HubContext, user_id: UUID) -> int:
    raw = await ctx.redis.get(_day_key(ctx, user_id))
    return int(raw or 0)


async def _count_quota(ctx: HubContext, user_id: UUID, size: int) -> None:
    key = _day_key(ctx, user_id)
    async with ctx.redis.pipeline(transaction=True) as pipe:
        pipe.incrby(key, size)
        pipe.expire(key, int(timedelta(days=2).total_seconds()))
        await pipe.execute()


async def accept(
    ctx: HubContext,
    actor: Actor,
    target: UploadTarget,
    raw_name: str | None,
    path: Path,
    size: int,
    sha256: str,
) -> FileWire:
    """Check the spooled file, store its bytes (once per organization) and record it."""
    try:
        found = await asyncio.to_thread(
            inspect_file, path, max_pixels=ctx.settings.image_max_pixels
        )
    except FileRefusedError as exc:
        raise refusal(exc) from None
    name = names.safe_name(raw_name, found.type.extension)
    key = f"{target.org_id}/{sha256}"
    async with ctx.db.acting(actor.user_id) as conn:
        await lock_content(conn, key)
        known = await conn.fetchrow(
            "SELECT * FROM app_stored_content($1, $2)", target.org_id, sha256
        )
        if known is not None and known["state"] in (State.INFECTED, State.REFUSED):
            metrics.FILES.labels("refused", "known").inc()
            raise refusal(FileRefusedError(known["reason"] or "refused", State(known["state"])))
        if known is None:
            await _put(ctx, key, path, found)
        row = await _insert(conn, actor, target, name, found, size, sha256, key, known)
    await _count_quota(ctx, actor.user_id, size)
    if row["state"] == State.PENDING:
        await ctx.jobs.enqueue("process_file", str(row["id"]), job_id=f"file:{row['id']}")
    metrics.FILES.labels("accepted", found.type.extension).inc()
    return file_wire(row)


async def lock_content(conn: Connection, key: str) -> None:
    """Serialise storing and releasing the bytes of one key (upload vs. deletion)."""
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
    await conn.execute("SELECT pg_advisory_xact_lock($1)", digest)


async def _put(ctx: HubContext, key: str, path: Path, found: Inspection) -> None:
    try:
        await ctx.storage.put_file(key, path, found.type.mime)
    except StorageError as exc:
        metrics.FILES.labels("failed", "storage").inc()
        raise DomainError(
            ErrorCode.UNAVAILABLE, "File storage is unavailable; try the upload again"
        ) from exc


async def _insert(
    conn: Connection,
    actor: Actor,
    target: UploadTarget,
    name: str,
    found: Inspection,
    size: int,
    sha256: str,
    key: str,
    known: Any,
) -> Any:
    # Bytes already stored and checked: the new record shares what was learnt about them.
    same = known if known is not None and known["state"] == State.CLEAN else None
    return await fetch_returning(
        conn,
        f"""WITH f AS (
                INSERT INTO files (zone_id, org_id, uploader_id, name, mime, kind, size, sha256,
                                   storage_key, state, width, height, duration_s,
                                   thumbnail_key, transcript, checked_at)
                VALUES ($1, $2, $3, $4, $5, $6::file_kind, $7, $8, $9, $10::file_state, $11,
                        $12, $13, $14, $15, CASE WHEN $10 = 'clean' THEN now() END)
                RETURNING *)
            SELECT {FILE_COLUMNS} FROM f""",  # noqa: S608 - FILE_COLUMNS is a constant
        target.zone_id,
        target.org_id,
        actor.user_id,
        name,
        same["mime"] if same else found.type.mime,
        str(found.type.kind),
        same["size"] if same else size,
        sha256,
        key,
        str(State.CLEAN if same else State.PENDING),
        same["width"] if same else found.width,
        same["height"] if same else found.height,
        same["duration_s"] if same else found.duration_s,
        same["thumbnail_key"] if same else None,
        same["transcript"] if same else None,
    )


def refusal(exc: FileRefusedError) -> DomainError:
    """The error an uploader sees for a refused file; counted by the check that refused it."""
    metrics.FILES.labels(str(exc.state), exc.check).inc()
    code = ErrorCode.FILE_INFECTED if exc.state is State.INFECTED else ErrorCode.FILE_REFUSED
    return DomainError(code, exc.reason, check=exc.check)
