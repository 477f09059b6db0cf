"""Letting go of file bytes: when the last message carrying a file is deleted, when its
uploader's account is erased, or when it was found infected or refused.

Bytes are shared by every record of the same content in an organization, so they are deleted
only when no live record needs them any more; the advisory lock on the key keeps a
concurrent upload of the same bytes from being answered with bytes about to vanish.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID

from hub import metrics
from hub.context import HubContext
from hub.db import Connection
from hub.files.storage import StorageError
from hub.files.uploads import lock_content

logger = logging.getLogger("dreamseed.files")


async def retire_message_files(conn: Connection, message_ids: list[UUID]) -> list[str]:
    """Mark deleted the files of these (now deleted) messages that no other live message
    carries; return their storage keys, to release after the commit. Uploads that were never
    attached elsewhere go with the message."""
    rows = await conn.fetch(
        """UPDATE files f SET deleted_at = now()
           WHERE f.id IN (SELECT file_id FROM message_files WHERE message_id = ANY($1::uuid[]))
             AND f.deleted_at IS NULL
             AND NOT EXISTS (
                 SELECT 1 FROM message_files mf JOIN messages m ON m.id = mf.message_id
                 WHERE mf.file_id = f.id AND m.deleted_at IS NULL)
           RETURNING storage_key""",
        message_ids,
    )
    return [r["storage_key"] for r in rows]


async def retire_user_files(conn: Connection, user_id: UUID) -> list[str]:
    """Every file a person uploaded (their account is being erased); the keys to release."""
    rows = await conn.fetch(
        """UPDATE files SET deleted_at = now(), name = 'erased'
           WHERE uploader_id = $1 AND deleted_at IS NULL RETURNING storage_key""",
        user_id,
    )
    await conn.execute("DELETE FROM file_uploads WHERE user_id = $1", user_id)
    return [r["storage_key"] for r in rows]


async def release_keys(ctx: HubContext, keys: list[str], *, refused: bool = False) -> int:
    """Delete the bytes (and thumbnails) of keys no live, servable record needs; the count."""
    deleted = 0
    for key in dict.fromkeys(keys):
        async with ctx.db.system() as conn:
            await lock_content(conn, key)
            needed = await conn.fetchval(
                """SELECT EXISTS (SELECT 1 FROM files WHERE storage_key = $1
                   AND deleted_at IS NULL AND state IN ('pending', 'clean'))""",
                key,
            )
            if needed and not refused:
                continue
            try:
                await ctx.storage.delete(key)
                await ctx.storage.delete(f"{key}.thumb.webp")
            except StorageError:
                # Left for an operator: the record is gone, so nothing serves these bytes.
                logger.exception("could not delete stored bytes %s", key)
                continue
            deleted += 1
    metrics.FILES.labels("released", "bytes").inc(deleted)
    return deleted


UNATTACHED_TTL_S = 7 * 24 * 3600


async def expire_unattached(ctx: HubContext, older_than_s: float = UNATTACHED_TTL_S) -> int:
    """Uploads never attached to a message within a week are let go (a worker cron), so an
    abandoned upload leaves no bytes behind."""
    cutoff = ctx.clock() - timedelta(seconds=older_than_s)
    async with ctx.db.system() as conn:
        rows = await conn.fetch(
            """UPDATE files f SET deleted_at = now()
               WHERE f.deleted_at IS NULL AND f.created_at < $1
                 AND NOT EXISTS (SELECT 1 FROM message_files mf WHERE mf.file_id = f.id)
               RETURNING storage_key""",
            cutoff,
        )
    return await release_keys(ctx, [r["storage_key"] for r in rows])
