"""Who may fetch a file, and the short-lived signed URLs that fetch it without a token.

A file is readable by its uploader and by the members of a conversation in which a message
that is not deleted carries it (the `files_read` policy says the same: RLS is the second
wall). Only `clean` files are ever served.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from uuid import UUID

from hub.context import Actor, HubContext
from hub.errors import DomainError, ErrorCode, not_found
from hub.files.storage import Download
from hub.files.types import Kind, State

_SERVED = """SELECT id, name, mime, kind::text AS kind, size, state::text AS state, reason,
                    storage_key, thumbnail_key
             FROM files WHERE id = $1 AND deleted_at IS NULL"""


@dataclass(frozen=True)
class Servable:
    id: UUID
    name: str
    mime: str
    kind: Kind
    size: int
    key: str
    thumbnail_key: str | None

    def download(self, thumbnail: bool = False) -> Download:
        if thumbnail:
            return Download("image/webp", "inline")
        return Download(self.mime, disposition(self.name, inline=self.kind is not Kind.DOCUMENT))


def disposition(name: str, *, inline: bool) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


async def servable(ctx: HubContext, actor: Actor, file_id: UUID) -> Servable:
    """The file if this user may fetch it and it is clean; otherwise why not."""
    async with ctx.db.acting(actor.user_id) as conn:
        row = await conn.fetchrow(_SERVED, file_id)
    return _checked(row)


async def servable_signed(ctx: HubContext, file_id: UUID) -> Servable:
    """For a URL whose signature was verified: the permission was checked when it was signed."""
    async with ctx.db.system() as conn:
        row = await conn.fetchrow(_SERVED, file_id)
    return _checked(row)


def _checked(row: Any) -> Servable:
    if row is None:
        raise not_found("File")
    if row["state"] == State.PENDING:
        raise DomainError(
            ErrorCode.FILE_NOT_READY, "The file is still being checked; try again shortly"
        )
    if row["state"] != State.CLEAN:
        raise DomainError(
            ErrorCode.FILE_GONE,
            f"The file was {row['state']} and is not served: {row['reason']}",
            state=row["state"],
        )
    return Servable(
        row["id"],
        row["name"],
        row["mime"],
        Kind(row["kind"]),
        int(row["size"]),
        row["storage_key"],
        row["thumbnail_key"],
    )


def _signing_key(ctx: HubContext) -> bytes:
    return hmac.new(ctx.settings.jwt_secret.encode(), b"dreamseed-files", hashlib.sha256).digest()


def sign(ctx: HubContext, file_id: UUID, variant: str, expires: int) -> str:
    message = f"{file_id}:{variant}:{expires}".encode()
    return hmac.new(_signing_key(ctx), message, hashlib.sha256).hexdigest()


def verify(ctx: HubContext, file_id: UUID, variant: str, expires: int, signature: str) -> None:
    if expires < int(ctx.clock().timestamp()):
        raise DomainError(ErrorCode.TOKEN_EXPIRED, "This file link has expired; ask for a new one")
    if not hmac.compare_digest(sign(ctx, file_id, variant, expires), signature):
        raise DomainError(ErrorCode.TOKEN_INVALID, "This file link's signature is wrong")


async def signed_url(
    ctx: HubContext, actor: Actor, file_id: UUID, thumbnail: bool, prefix: str
) -> dict[str, Any]:
    """A URL that fetches the file (or thumbnail) for `file_url_ttl_s` seconds without a token:
    the object store's own presigned URL, or one the API signs (local storage)."""
    return await _sign(ctx, await servable(ctx, actor, file_id), thumbnail, prefix)


async def signed_urls(
    ctx: HubContext, actor: Actor, file_ids: list[UUID], thumbnail: bool, prefix: str
) -> list[dict[str, Any]]:
    """`signed_url` for many files in one query; each failure is named, not raised."""
    async with ctx.db.acting(actor.user_id) as conn:
        rows = {
            r["id"]: r
            for r in await conn.fetch(
                _SERVED.replace("id = $1", "id = ANY($1::uuid[])"), list(dict.fromkeys(file_ids))
            )
        }
    items: list[dict[str, Any]] = []
    for file_id in file_ids:
        try:
            signed = await _sign(ctx, _checked(rows.get(file_id)), thumbnail, prefix)
            items.append({"id": file_id, **signed})
        except DomainError as exc:
            items.append({"id": file_id, "url": None, "expires_at": None, "error": str(exc.code)})
    return items


async def _sign(ctx: HubContext, found: Servable, thumbnail: bool, prefix: str) -> dict[str, Any]:
    file_id = found.id
    key = found.thumbnail_key if thumbnail else found.key
    if key is None:
        raise not_found("Thumbnail")
    ttl = ctx.settings.file_url_ttl_s
    expires = int(ctx.clock().timestamp()) + ttl
    url = await ctx.storage.presign(key, found.download(thumbnail), ttl)
    if url is None:
        variant = "thumbnail" if thumbnail else "file"
        signature = sign(ctx, file_id, variant, expires)
        url = f"{prefix}/files/{file_id}/signed?variant={variant}&expires={expires}&sig={signature}"
    return {"url": url, "expires_at": expires}
