"""The worker's part of a file's life: scanning with clamd (when configured), cleaning images
(upright, EXIF stripped, thumbnail), then `clean` — or `infected`/`refused`, with the bytes
deleted and the uploader told why (`file.refused`).

Work is per content (storage key): every pending record of the same bytes moves together.
clamd down or slow leaves the file pending and raises `ScanUnavailableError` (the job retries,
and a sweep re-queues what is still pending), so nothing is served unscanned.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from hub import metrics
from hub.context import HubContext
from hub.files import clamd, images, releasing
from hub.files.records import FILE_COLUMNS, file_wire
from hub.files.refusals import FileRefusedError, infected
from hub.files.types import Kind, State

PENDING_RETRY_AFTER_S = 60


class ScanUnavailableError(Exception):
    """The configured scanner could not give a verdict; the file stays pending."""


async def process_file(ctx: HubContext, file_id: UUID) -> str:
    """Check one pending file (and every pending record of the same bytes); its new state."""
    async with ctx.db.system() as conn:
        row = await conn.fetchrow(
            """UPDATE files SET scan_tries = scan_tries + 1
               WHERE id = $1 AND state = 'pending' AND deleted_at IS NULL
               RETURNING storage_key, kind::text AS kind, mime, name""",
            file_id,
        )
    if row is None:
        return "done"
    with tempfile.TemporaryDirectory(prefix="dreamseed-file-") as folder:
        path = Path(folder) / "content"
        await ctx.storage.fetch_to(row["storage_key"], path)
        try:
            await _scan(ctx, path)
            facts = await _clean(ctx, row["storage_key"], Kind(row["kind"]), path)
        except FileRefusedError as exc:
            await _refuse(ctx, row["storage_key"], exc)
            return str(exc.state)
    await _mark_clean(ctx, row["storage_key"], facts)
    if row["kind"] == Kind.AUDIO:
        await ctx.jobs.enqueue("transcribe_file", str(file_id), job_id=f"transcribe:{file_id}")
    return str(State.CLEAN)


async def _scan(ctx: HubContext, path: Path) -> None:
    url = ctx.settings.clamd_url
    if url is None:
        return
    started = time.perf_counter()
    try:
        verdict = await clamd.scan(url, path, ctx.settings.clamd_timeout_s)
    except clamd.ClamdUnavailableError as exc:
        metrics.FILES.labels("pending", "clamd_unavailable").inc()
        raise ScanUnavailableError(str(exc)) from exc
    metrics.FILE_PROCESSING.labels("clamd").observe(time.perf_counter() - started)
    if not verdict.clean:
        raise infected(verdict.signature or "unknown", check="clamd")


async def _clean(ctx: HubContext, key: str, kind: Kind, path: Path) -> dict[str, Any]:
    if kind is not Kind.IMAGE:
        return {}
    started = time.perf_counter()
    try:
        cleaned = await asyncio.to_thread(images.clean_image, path, ctx.settings.image_max_pixels)
    except (OSError, ValueError, SyntaxError) as exc:
        raise FileRefusedError(f"The image cannot be decoded: {exc}", check="image") from None
    metrics.FILE_PROCESSING.labels("image").observe(time.perf_counter() - started)
    thumb_key = f"{key}.thumb.webp"
    await ctx.storage.put_bytes(key, cleaned.data, cleaned.type.mime)
    await ctx.storage.put_bytes(thumb_key, cleaned.thumbnail, "image/webp")
    return {
        "size": len(cleaned.data),
        "mime": cleaned.type.mime,
        "extension": cleaned.type.extension,
        "width": cleaned.width,
        "height": cleaned.height,
        "thumbnail_key": thumb_key,
    }


async def _mark_clean(ctx: HubContext, key: str, facts: dict[str, Any]) -> None:
    async with ctx.db.system() as conn:
        rows = await conn.fetch(
            f"""WITH f AS (
                    UPDATE files SET state = 'clean', checked_at = now(),
                           size = coalesce($2, size), mime = coalesce($3, mime),
                           name = CASE WHEN $4::text IS NULL THEN name
                                       ELSE regexp_replace(name, '\\.[^.]*$', '') || '.' || $4
                                  END,
                           width = coalesce($5, width), height = coalesce($6, height),
                           thumbnail_key = coalesce($7, thumbnail_key)
                    WHERE storage_key = $1 AND state = 'pending' AND deleted_at IS NULL
                    RETURNING *)
                SELECT {FILE_COLUMNS} FROM f""",  # noqa: S608 - FILE_COLUMNS is a constant
            key,
            facts.get("size"),
            facts.get("mime"),
            facts.get("extension"),
            facts.get("width"),
            facts.get("height"),
            facts.get("thumbnail_key"),
        )
        shared = await _conversations_of(conn, [r["id"] for r in rows])
    metrics.FILES.labels("clean", "worker").inc(len(rows))
    for row in rows:
        wire = dict(file_wire(row))
        await ctx.bus.to_user(row["uploader_id"], "file.updated", wire)
        for conversation_id in shared.get(row["id"], []):
            await ctx.bus.to_conversation(conversation_id, "file.updated", wire)


async def _conversations_of(conn: Any, file_ids: list[UUID]) -> dict[UUID, list[UUID]]:
    found = await conn.fetch(
        """SELECT DISTINCT mf.file_id, mf.conversation_id FROM message_files mf
           JOIN messages m ON m.id = mf.message_id
           WHERE mf.file_id = ANY($1::uuid[]) AND m.deleted_at IS NULL""",
        file_ids,
    )
    out: dict[UUID, list[UUID]] = {}
    for r in found:
        out.setdefault(r["file_id"], []).append(r["conversation_id"])
    return out


async def _refuse(ctx: HubContext, key: str, exc: FileRefusedError) -> None:
    metrics.FILES.labels(str(exc.state), exc.check).inc()
    async with ctx.db.system() as conn:
        rows = await conn.fetch(
            """UPDATE files SET state = $2::file_state, reason = $3, checked_at = now()
               WHERE storage_key = $1 AND state = 'pending' RETURNING id, uploader_id, name""",
            key,
            str(exc.state),
            exc.reason,
        )
        shared = await _conversations_of(conn, [r["id"] for r in rows])
    await releasing.release_keys(ctx, [key], refused=True)
    for row in rows:
        event = {
            "id": str(row["id"]),
            "name": row["name"],
            "state": str(exc.state),
            "reason": exc.reason,
        }
        await ctx.bus.to_user(row["uploader_id"], "file.refused", event)
        for conversation_id in shared.get(row["id"], []):
            await ctx.bus.to_conversation(conversation_id, "file.updated", event)


async def requeue_pending(ctx: HubContext, older_than_s: float = PENDING_RETRY_AFTER_S) -> int:
    """Queue again every file still pending after a while (a scanner was down, a job was lost)."""
    async with ctx.db.system() as conn:
        rows = await conn.fetch(
            """SELECT DISTINCT ON (storage_key) id FROM files
               WHERE state = 'pending' AND deleted_at IS NULL
                 AND created_at <= $1
               ORDER BY storage_key, created_at LIMIT 500""",
            ctx.clock() - timedelta(seconds=older_than_s),
        )
    minute = int(ctx.clock().timestamp() // 60)
    for row in rows:
        await ctx.jobs.enqueue("process_file", str(row["id"]), job_id=f"file:{row['id']}:{minute}")
    return len(rows)
