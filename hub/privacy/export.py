"""The right of access and portability: a zip of JSON documents holding everything the
platform keeps about a person, built by the worker, fetched with a short-lived link.

A person asks for their own; a parent with an approved link to a student asks for the child's
(the link is how the platform knows who stands for a minor). Anyone else is refused. The link
carries a random token stored only as its hash, and works for the one who asked until the
archive expires (EXPORT_TTL_S); the retention sweep then removes the archive.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from hub import metrics
from hub.accounts import audit
from hub.chat import partitions
from hub.context import Actor, HubContext, RequestMeta
from hub.db import fetch_returning
from hub.errors import DomainError, ErrorCode, forbidden, not_found
from hub.notify import enqueue
from hub.privacy.sections import SECTIONS

EXPORT_JOB = "build_export"


@dataclass(frozen=True)
class Export:
    id: UUID
    status: str
    requested_at: datetime


@dataclass(frozen=True)
class Archive:
    key: str
    size: int
    filename: str


async def request_export(
    ctx: HubContext, actor: Actor, subject_id: UUID | None, meta: RequestMeta
) -> Export:
    subject = subject_id or actor.user_id
    async with ctx.db.system() as conn:
        if subject != actor.user_id:
            linked = await conn.fetchval(
                """SELECT EXISTS (SELECT 1 FROM parent_links WHERE parent_id = $1
                   AND student_id = $2 AND status = 'approved')""",
                actor.user_id,
                subject,
            )
            if not linked:
                metrics.PRIVACY_REFUSALS.labels("export_forbidden").inc()
                raise forbidden("You may export your own data, or a linked child's")
        row = await fetch_returning(
            conn,
            """INSERT INTO data_exports (subject_id, requested_by, requested_at)
               VALUES ($1, $2, $3) RETURNING id, status, requested_at""",
            subject,
            actor.user_id,
            ctx.clock(),
        )
        await audit.record(
            conn,
            "user.export",
            actor_id=actor.user_id,
            target_type="data_export",
            target_id=row["id"],
            meta=meta,
        )
    await ctx.jobs.enqueue(EXPORT_JOB, str(row["id"]), job_id=f"export:{row['id']}")
    return Export(**dict(row))


def _json(rows: list[dict[str, Any]]) -> bytes:
    return json.dumps(rows, ensure_ascii=False, indent=1, default=str).encode()


async def build(ctx: HubContext, export_id: UUID) -> int:
    """Write the archive, store it, and tell the person who asked; the archive's size."""
    async with ctx.db.system() as conn:
        await partitions.reading_archive(conn)  # every month of messages, archived ones too
        job = await conn.fetchrow(
            "SELECT subject_id, requested_by, status FROM data_exports WHERE id = $1",
            export_id,
        )
        if job is None or job["status"] == "ready":
            return 0
        documents = {name: await read(conn, job["subject_id"]) for name, read in SECTIONS.items()}
    with tempfile.TemporaryDirectory(dir=_scratch(ctx)) as folder:
        path = Path(folder) / "export.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, rows in documents.items():
                archive.writestr(f"{name}.json", _json(rows))
            manifest = {"subject_id": str(job["subject_id"]), "made_at": ctx.clock()}
            archive.writestr("manifest.json", _json([manifest]))
        key, size = f"exports/{export_id}.zip", path.stat().st_size
        await ctx.storage.put_file(key, path, "application/zip")
    token = secrets.token_urlsafe(32)
    expires = ctx.clock() + timedelta(seconds=ctx.settings.export_ttl_s)
    async with ctx.db.system() as conn:
        await conn.execute(
            """UPDATE data_exports SET status = 'ready', storage_key = $2, token_hash = $3,
                      size = $4, ready_at = $5, expires_at = $6
               WHERE id = $1""",
            export_id,
            key,
            _hash(token),
            size,
            ctx.clock(),
            expires,
        )
    link = f"{ctx.settings.public_url}/api/v1/exports/{export_id}?token={token}"
    await enqueue.tell_users(
        ctx,
        [job["requested_by"]],
        kind="export_ready",
        title="Your data export is ready",
        body=f"Download it before {expires:%Y-%m-%d %H:%M} UTC",
        data={"export_id": str(export_id), "url": link},
        dedup_key=f"export:{export_id}",
    )
    return size


def _scratch(ctx: HubContext) -> Path:
    folder = ctx.settings.data_dir / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def open_download(ctx: HubContext, actor: Actor, export_id: UUID, token: str) -> Archive:
    """The archive, for the person who asked, with the link's token, before it expires."""
    async with ctx.db.acting(actor.user_id) as conn:
        row = await conn.fetchrow(
            """SELECT storage_key, size, token_hash, expires_at FROM data_exports
               WHERE id = $1 AND status = 'ready'""",
            export_id,
        )
    if row is None or not secrets.compare_digest(row["token_hash"], _hash(token)):
        metrics.PRIVACY_REFUSALS.labels("export_link").inc()
        raise not_found("The export")
    if row["expires_at"] <= ctx.clock():
        metrics.PRIVACY_REFUSALS.labels("export_expired").inc()
        raise DomainError(ErrorCode.LINK_EXPIRED, "This download link has expired")
    return Archive(row["storage_key"], row["size"], f"dreamseed-export-{export_id}.zip")
