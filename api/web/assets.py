"""The web client's static files, read once and gzip-compressed once, served from memory.

The files are small and few (the client has no build step), so each is read and compressed
on its first request and kept: no per-request compression, an ETag for revalidation, and
`Cache-Control: no-cache` so a new release is picked up on the next load without stale
modules mixing with fresh ones.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

STATIC_DIR = Path(__file__).parent / "static"
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
}
# Compressing these saves little or nothing.
_STORED = {".png", ".jpg", ".woff2"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


class Assets:
    """Files under `root`, by their path relative to it; nothing outside it is reachable."""

    def __init__(self, root: Path = STATIC_DIR) -> None:
        self.root = root.resolve()
        self._cache: dict[str, Asset] = {}

    def get(self, relative: str) -> Asset | None:
        cached = self._cache.get(relative)
        if cached is not None:
            return cached
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        body = path.read_bytes()
        suffix = path.suffix.lower()
        media = _TYPES.get(suffix) or mimetypes.guess_type(path.name)[0]
        asset = Asset(
            body=body,
            gzipped=None if suffix in _STORED else gzip.compress(body, 9, mtime=0),
            media_type=media or "application/octet-stream",
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        )
        self._cache[relative] = asset
        return asset

    def response(self, request: Request, relative: str, headers: dict[str, str]) -> Response:
        asset = self.get(relative)
        if asset is None:
            return PlainTextResponse("Not found", status_code=404)
        out = {"etag": asset.etag, "cache-control": "no-cache", "vary": "accept-encoding"}
        out |= headers
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=out)
        body = asset.body
        if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
            body = asset.gzipped
            out["content-encoding"] = "gzip"
        return Response(body, media_type=asset.media_type, headers=out)
