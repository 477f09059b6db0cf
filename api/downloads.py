"""Serving file bytes: streamed from storage, one byte range when asked (audio players seek),
with headers that keep a browser from reinterpreting them."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from api.errors import error_response
from hub.context import HubContext
from hub.errors import DomainError, ErrorCode
from hub.files.access import Servable

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end) inclusive for a single `bytes=` range; None for the whole file."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None  # multiple or malformed ranges: serve the whole file (RFC 9110 allows it)
    first, last = match.groups()
    if first == "":
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise DomainError(
            ErrorCode.RANGE_NOT_SATISFIABLE,
            f"Range {header[:40]} is outside the file ({size} bytes)",
            size=size,
        )
    return start, end


async def serve(
    ctx: HubContext, request: Request, found: Servable, *, thumbnail: bool = False
) -> Response:
    key = found.thumbnail_key if thumbnail else found.key
    if key is None:
        raise DomainError(ErrorCode.NOT_FOUND, "This file has no thumbnail")
    size = found.size if not thumbnail else (await ctx.storage.size(key) or 0)
    download = found.download(thumbnail)
    headers = {
        "Content-Disposition": download.disposition,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=300",
        "Accept-Ranges": "bytes",
    }
    try:
        wanted = _range(request.headers.get("range"), size)
    except DomainError as exc:
        # A 416 carries the error body every other refusal has (the document declares it).
        return error_response(exc, {**headers, "Content-Range": f"bytes */{size}"})
    start, end, status = 0, size - 1, 200
    if wanted is not None:
        start, end = wanted
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    return StreamingResponse(
        ctx.storage.read(key, start, end),
        status_code=status,
        media_type=download.content_type,
        headers=headers,
    )
