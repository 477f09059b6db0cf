"""/files: upload (one request, or resumable with tus), download, thumbnail, signed URLs.

Uploads are exempt from the 1 MiB body limit (api/app.py): they have their own, counted here
while the body streams into a spool.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from api.downloads import serve
from api.endpoint import Call, endpoint
from api.errors import error_response
from api.upload_body import read_into
from hub.errors import DomainError, ErrorCode
from hub.files import access, resumable, uploads
from hub.files.spool import Spool
from schema.models.files import (
    FileOut,
    SignedFetchQuery,
    SignedUrlList,
    SignedUrlOut,
    SignedUrlQuery,
    SignedUrlsBody,
    UploadQuery,
)

TAG = "files"
PREFIX = "/api/v1"
TUS_VERSION = "1.0.0"
# A file's bytes in its own type, whole or a Range of them.
FILE_BYTES = {200: "*/*", 206: "*/*"}


# Only these stream a body past the 1 MiB limit (each counts against its own); /files/urls
# and every other route keep the general limit.
def is_upload_path(path: str) -> bool:
    return path in ("/api/v1/files", "/api/v1/files/upload") or (
        path.startswith("/api/v1/files/tus/") and path.count("/") == 5
    )


def _declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    return int(raw) if raw and raw.isdigit() else None


async def _upload(call: Call) -> dict[str, Any]:
    query: UploadQuery = call.query
    ctx = call.ctx
    target = await uploads.prepare(ctx, call.user, query.org_id, _declared_length(call.request))
    with Spool(uploads.spool_dir(ctx), ctx.settings.file_max_bytes) as spool:
        part_name = await read_into(call.request, spool)
        sha256 = spool.finish()
        return dict(
            await uploads.accept(
                ctx, call.user, target, part_name or query.name, spool.path, spool.size, sha256
            )
        )


@endpoint(
    "POST",
    "/files",
    summary="Upload a file (multipart/form-data with one file part, or the raw bytes)",
    query=UploadQuery,
    response=FileOut,
    status=201,
    tag=TAG,
)
async def upload(call: Call) -> dict[str, Any]:
    return await _upload(call)


@endpoint(
    "POST",
    "/files/upload",
    summary="Upload a file (the same as POST /files)",
    query=UploadQuery,
    response=FileOut,
    status=201,
    tag=TAG,
)
async def upload_alias(call: Call) -> dict[str, Any]:
    return await _upload(call)


@endpoint(
    "GET",
    "/files/{file_id}",
    summary="Download a clean file (Range allowed)",
    tag=TAG,
    raw=FILE_BYTES,
)
async def download(call: Call) -> Response:
    found = await access.servable(call.ctx, call.user, call.path_uuid("file_id"))
    return await serve(call.ctx, call.request, found)


@endpoint(
    "GET",
    "/files/{file_id}/thumbnail",
    summary="An image's 320 px thumbnail",
    tag=TAG,
    raw=FILE_BYTES,
)
async def thumbnail(call: Call) -> Response:
    found = await access.servable(call.ctx, call.user, call.path_uuid("file_id"))
    return await serve(call.ctx, call.request, found, thumbnail=True)


@endpoint(
    "GET",
    "/files/{file_id}/url",
    summary="A short-lived URL that fetches the file without a token",
    query=SignedUrlQuery,
    response=SignedUrlOut,
    tag=TAG,
)
async def signed_url(call: Call) -> dict[str, Any]:
    return await access.signed_url(
        call.ctx, call.user, call.path_uuid("file_id"), call.query.thumbnail, PREFIX
    )


@endpoint(
    "GET",
    "/files/{file_id}/signed",
    summary="Fetch through a signed URL (local storage)",
    query=SignedFetchQuery,
    auth=False,
    tag=TAG,
    rate_limited=False,
    raw=FILE_BYTES,
)
async def signed_fetch(call: Call) -> Response:
    q: SignedFetchQuery = call.query
    file_id = call.path_uuid("file_id")
    access.verify(call.ctx, file_id, q.variant, q.expires, q.sig)
    found = await access.servable_signed(call.ctx, file_id)
    return await serve(call.ctx, call.request, found, thumbnail=q.variant == "thumbnail")


@endpoint(
    "POST",
    "/files/urls",
    summary="Signed URLs for up to 100 files at once (a page of thumbnails in one request)",
    body=SignedUrlsBody,
    response=SignedUrlList,
    tag=TAG,
)
async def signed_urls(call: Call) -> dict[str, Any]:
    body: SignedUrlsBody = call.body
    items = await access.signed_urls(call.ctx, call.user, body.file_ids, body.thumbnail, PREFIX)
    return {"items": items}


# --- tus 1.0 (core + creation + termination) -------------------------------------------------


def _tus_headers(**extra: str) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **extra}


def _metadata(header: str) -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64value` pairs."""
    out: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _, value = pair.partition(" ")
        try:
            out[key] = base64.b64decode(value, validate=True).decode("utf-8") if value else ""
        except (binascii.Error, UnicodeDecodeError):
            raise DomainError(
                ErrorCode.VALIDATION, f"Upload-Metadata {key[:40]}: not base64 UTF-8"
            ) from None
    return out


def _int_header(request: Request, name: str) -> int:
    raw = request.headers.get(name, "")
    if not raw.isdigit():
        raise DomainError(ErrorCode.VALIDATION, f"{name} must be a non-negative integer")
    return int(raw)


@endpoint(
    "OPTIONS",
    "/files/tus",
    summary="tus: what this server supports",
    auth=False,
    tag=TAG,
    raw={204: ""},
)
async def tus_options(call: Call) -> Response:
    return Response(
        status_code=204,
        headers=_tus_headers(
            **{
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": "creation,termination",
                "Tus-Max-Size": str(call.ctx.settings.file_max_bytes),
            }
        ),
    )


@endpoint("POST", "/files/tus", summary="tus: start a resumable upload", tag=TAG, raw={201: ""})
async def tus_create(call: Call) -> Response:
    meta = _metadata(call.request.headers.get("upload-metadata", ""))
    org = meta.get("org_id")
    try:
        org_id = UUID(org) if org else None
    except ValueError:
        raise DomainError(ErrorCode.VALIDATION, "Upload-Metadata org_id is not a UUID") from None
    length = _int_header(call.request, "upload-length")
    started = await resumable.create(
        call.ctx, call.user, org_id, length, meta.get("filename") or meta.get("name")
    )
    return Response(
        status_code=201,
        headers=_tus_headers(Location=f"{PREFIX}/files/tus/{started.id}", **{"Upload-Offset": "0"}),
    )


@endpoint(
    "HEAD", "/files/tus/{upload_id}", summary="tus: where an upload stands", tag=TAG, raw={200: ""}
)
async def tus_head(call: Call) -> Response:
    now = await resumable.progress(call.ctx, call.user, call.path_uuid("upload_id"))
    return Response(
        status_code=200,
        headers=_tus_headers(
            **{"Upload-Offset": str(now.offset), "Upload-Length": str(now.length)}
        ),
    )


async def _chunks(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        raise resumable.CutOffError from None


@endpoint(
    "PATCH",
    "/files/tus/{upload_id}",
    summary="tus: append bytes at the offset",
    tag=TAG,
    raw={204: ""},
)
async def tus_patch(call: Call) -> Response:
    if call.request.headers.get("content-type") != "application/offset+octet-stream":
        refused = DomainError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "A tus PATCH sends Content-Type: application/offset+octet-stream",
        )
        return error_response(refused, _tus_headers())
    offset = _int_header(call.request, "upload-offset")
    done = await resumable.append(
        call.ctx, call.user, call.path_uuid("upload_id"), offset, _chunks(call.request)
    )
    headers = _tus_headers(**{"Upload-Offset": str(done.offset)})
    if done.file is not None:
        # Not in tus itself: the finished file's id, so the client can attach it.
        headers["Upload-File-Id"] = done.file["id"]
    return Response(status_code=204, headers=headers)


@endpoint(
    "DELETE", "/files/tus/{upload_id}", summary="tus: abandon an upload", tag=TAG, raw={204: ""}
)
async def tus_delete(call: Call) -> Response:
    await resumable.cancel(call.ctx, call.user, call.path_uuid("upload_id"))
    return Response(status_code=204, headers=_tus_headers())


ENDPOINTS = [
    upload,
    upload_alias,
    tus_options,
    tus_create,
    tus_head,
    tus_patch,
    tus_delete,
    download,
    thumbnail,
    signed_url,
    signed_urls,
    signed_fetch,
]
