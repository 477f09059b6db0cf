"""The browser client, served by the hub itself: `/` (the app), `/static/...`, `/api/docs`.

No build step: plain ES modules and vendored libraries (VENDORED.md), so running the product
needs no Node.js. Every page carries a strict Content-Security-Policy: scripts only from this
origin and never inline, so a message that slips HTML past the client still cannot run code.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.web.assets import Assets
from hub.context import HubContext
from hub.seed import demo_logins
from hub.settings import Settings

_ASSETS = Assets()
_BASE_CSP = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
APP_CSP = _BASE_CSP + "; style-src 'self'"
# Swagger UI sets style attributes from its scripts; its page alone allows inline styles
# (never inline scripts).
DOCS_CSP = _BASE_CSP + "; style-src 'self' 'unsafe-inline'"
_PAGE_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def app_csp(settings: Settings) -> str:
    """The app's policy; with S3 storage, signed file URLs point at the bucket's origin, so
    `<img>` and `<audio>` may load from there too (nothing else may)."""
    if settings.file_storage != "s3":
        return APP_CSP
    if settings.s3_endpoint_url:
        parts = urlsplit(settings.s3_endpoint_url)
        origin = f"{parts.scheme}://{parts.netloc}"
    else:
        origin = "https://*.amazonaws.com"
    return APP_CSP.replace("img-src 'self'", f"img-src 'self' {origin}").replace(
        "media-src 'self'", f"media-src 'self' {origin}"
    )


async def app_page(request: Request) -> Response:
    ctx: HubContext = request.app.state.ctx
    csp = app_csp(ctx.settings)
    return _ASSETS.response(
        request, "index.html", {**_PAGE_HEADERS, "content-security-policy": csp}
    )


async def docs_page(request: Request) -> Response:
    return _ASSETS.response(
        request, "docs.html", {**_PAGE_HEADERS, "content-security-policy": DOCS_CSP}
    )


async def static_file(request: Request) -> Response:
    return _ASSETS.response(
        request, request.path_params["path"], {"x-content-type-options": "nosniff"}
    )


async def web_config(request: Request) -> Response:
    """What the login page shows: the demo logins while the demo school exists."""
    ctx: HubContext = request.app.state.ctx
    return JSONResponse({"demo": await demo_logins(ctx.db)}, headers={"cache-control": "no-store"})


ROUTES = [
    Route("/", app_page, methods=["GET", "HEAD"]),
    Route("/api/docs", docs_page, methods=["GET", "HEAD"]),
    Route("/static/{path:path}", static_file, methods=["GET", "HEAD"]),
    Route("/web/config.json", web_config, methods=["GET"]),
]
