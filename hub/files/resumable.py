"""Resumable uploads (the tus 1.0 protocol, core and creation): a phone on a bad connection
sends a large file in pieces and resumes from the offset the hub confirms.

The bytes so far live in DATA_DIR/uploads/tus/ (shared by the hub processes, or kept on one
by sticky sessions); the offset lives in PostgreSQL. One PATCH at a time per upload (a Redis
lock). A cut-off PATCH keeps what arrived. The last byte runs the same checks as a one-shot
upload (`uploads.accept`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from uuid import UUID

from hub.context import Actor, HubContext
from hub.errors import DomainError, ErrorCode, not_found
from hub.files import uploads
from hub.files.records import FileWire
from hub.files.spool import remove, sha256_of, too_large

UPLOAD_TTL = timedelta(hours=24)


class CutOffError(Exception):
    """The client went away mid-PATCH; what arrived is kept."""


@dataclass(frozen=True)
class Progress:
    id: UUID
    offset: int
    length: int
    file: FileWire | None = None


def _part(ctx: HubContext, upload_id: UUID) -> Path:
    return uploads.spool_dir(ctx) / "tus" / f"{upload_id}.part"


async def create(
    ctx: HubContext, actor: Actor, org_id: UUID | None, length: int, name: str | None
) -> Progress:
    target = await uploads.prepare(ctx, actor, org_id, length)
    if length <= 0:
        raise DomainError(ErrorCode.VALIDATION, "Upload-Length must be a positive number of bytes")
    async with ctx.db.acting(actor.user_id) as conn:
        upload_id: UUID = await conn.fetchval(
            """INSERT INTO file_uploads (user_id, zone_id, org_id, name, length, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
            actor.user_id,
            target.zone_id,
            target.org_id,
            (name or "")[:1000].replace("\x00", ""),
            length,
            ctx.clock() + UPLOAD_TTL,
        )
    part = _part(ctx, upload_id)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.touch()
    return Progress(upload_id, 0, length)


async def progress(ctx: HubContext, actor: Actor, upload_id: UUID) -> Progress:
    row = await _row(ctx, actor, upload_id)
    return Progress(upload_id, int(str(row["received"])), int(str(row["length"])))


async def _row(ctx: HubContext, actor: Actor, upload_id: UUID) -> dict[str, object]:
    async with ctx.db.acting(actor.user_id) as conn:
        row = await conn.fetchrow(
            """SELECT received, length, org_id, zone_id, name, file_id FROM file_uploads
               WHERE id = $1 AND expires_at > $2""",
            upload_id,
            ctx.clock(),
        )
    if row is None:
        raise not_found("Upload")
    return dict(row)


async def append(
    ctx: HubContext, actor: Actor, upload_id: UUID, offset: int, chunks: AsyncIterator[bytes]
) -> Progress:
    """Append a PATCH body at `offset` (which must be where the upload stands)."""
    lock = ctx.keys.rate_limit(f"tus-lock:{upload_id}")
    if not await ctx.redis.set(lock, "1", nx=True, ex=600):
        raise DomainError(ErrorCode.CONFLICT, "Another request is appending to this upload")
    try:
        row = await _row(ctx, actor, upload_id)
        received, length = int(str(row["received"])), int(str(row["length"]))
        if row["file_id"] is not None:
            raise DomainError(ErrorCode.CONFLICT, "This upload is already complete")
        if offset != received:
            raise DomainError(
                ErrorCode.CONFLICT,
                f"Upload-Offset {offset} is not the upload's offset {received}",
                offset=received,
            )
        received = await _write(ctx, upload_id, received, length, chunks)
        async with ctx.db.acting(actor.user_id) as conn:
            await conn.execute(
                "UPDATE file_uploads SET received = $2 WHERE id = $1", upload_id, received
            )
        if received < length:
            return Progress(upload_id, received, length)
        return await _finish(ctx, actor, upload_id, row, length)
    finally:
        await ctx.redis.delete(lock)


async def _write(
    ctx: HubContext, upload_id: UUID, received: int, length: int, chunks: AsyncIterator[bytes]
) -> int:
    part = _part(ctx, upload_id)
    cut_off = False
    with part.open("r+b") as f:
        f.truncate(received)
        f.seek(received)
        try:
            async for chunk in chunks:
                if received + len(chunk) > length:
                    raise too_large(length)
                f.write(chunk)
                received += len(chunk)
        except CutOffError:
            cut_off = True
    if cut_off:
        # Keep what arrived: the client asks for the offset (HEAD) and resumes from there.
        await _save_offset(ctx, upload_id, received)
        raise DomainError(
            ErrorCode.UPLOAD_INCOMPLETE, "The request was cut off; resume from the offset"
        )
    return received


async def _save_offset(ctx: HubContext, upload_id: UUID, received: int) -> None:
    async with ctx.db.system() as conn:
        await conn.execute(
            "UPDATE file_uploads SET received = $2 WHERE id = $1", upload_id, received
        )


async def _finish(
    ctx: HubContext, actor: Actor, upload_id: UUID, row: dict[str, object], length: int
) -> Progress:
    part = _part(ctx, upload_id)
    target = uploads.UploadTarget(UUID(str(row["org_id"])), UUID(str(row["zone_id"])))
    sha = await asyncio.to_thread(sha256_of, part)
    try:
        wire = await uploads.accept(ctx, actor, target, str(row["name"]) or None, part, length, sha)
    except DomainError as exc:
        if exc.code in (ErrorCode.FILE_REFUSED, ErrorCode.FILE_INFECTED):
            await cancel(ctx, actor, upload_id)
        # Otherwise (storage down) the bytes stay: an empty PATCH at the end retries.
        raise
    async with ctx.db.acting(actor.user_id) as conn:
        await conn.execute(
            "UPDATE file_uploads SET file_id = $2 WHERE id = $1", upload_id, UUID(wire["id"])
        )
    remove(part)
    return Progress(upload_id, length, length, wire)


async def cancel(ctx: HubContext, actor: Actor, upload_id: UUID) -> None:
    """Drop an upload and its bytes so far (tus termination)."""
    async with ctx.db.acting(actor.user_id) as conn:
        gone = await conn.fetchval("DELETE FROM file_uploads WHERE id = $1 RETURNING id", upload_id)
    remove(_part(ctx, upload_id))
    if gone is None:
        raise not_found("Upload")


async def expire(ctx: HubContext) -> int:
    """Forget uploads nobody finished in time, with their bytes (a worker cron)."""
    async with ctx.db.system() as conn:
        rows = await conn.fetch(
            "DELETE FROM file_uploads WHERE expires_at <= $1 RETURNING id", ctx.clock()
        )
    for row in rows:
        remove(_part(ctx, row["id"]))
    return len(rows)
