"""Assembles the ASGI application: REST routes with the Socket.IO server beside them.

Started by import string: `uvicorn api.app:create_app --factory`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import socketio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from api import errors, web
from api.connection_logs import quiet_connection_logs
from api.endpoint import Endpoint
from api.methods import AllowedMethods
from api.middleware import BodySizeLimit
from api.openapi import build_openapi
from api.proxies import ClientAddress, TrustedProxies, parse_networks
from api.routes import (
    admin,
    audit,
    auth,
    consents,
    conversations,
    dashboards,
    exams,
    files,
    health,
    links,
    messages,
    notifications,
    organizations,
    privacy,
    tutor,
    users,
)
from api.routes import invitations as invitation_routes
from api.routes import reports as report_routes
from api.routes import zone_admins as zone_admin_routes
from api.shedding import ConnectLimit, InFlightLimit
from hub.errors import DomainError
from hub.exams import adaptive
from hub.keys import RedisKeys
from hub.presence.heartbeat import Heartbeat
from hub.services import close_context, open_context
from hub.settings import Settings, SettingsError, load_settings
from hub.sockets.server import SocketBus, create_server, presence_loop

API_PREFIX = "/api/v1"
ENDPOINTS: list[Endpoint] = [
    *auth.ENDPOINTS,
    *users.ENDPOINTS,
    *organizations.ENDPOINTS,
    *links.ENDPOINTS,
    *consents.ENDPOINTS,
    *audit.ENDPOINTS,
    *conversations.ENDPOINTS,
    *messages.ENDPOINTS,
    *exams.ENDPOINTS,
    *dashboards.ENDPOINTS,
    *notifications.ENDPOINTS,
    *admin.ENDPOINTS,
    *report_routes.ENDPOINTS,
    *zone_admin_routes.ENDPOINTS,
    *invitation_routes.ENDPOINTS,
    *files.ENDPOINTS,
    *tutor.ENDPOINTS,
    *privacy.ENDPOINTS,
]


def create_app(settings: Settings | None = None) -> ASGIApp:
    settings = (settings or load_settings()).require_runtime()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    quiet_connection_logs(settings.log_level)
    channel = RedisKeys(settings.redis_namespace).socketio_channel
    sio, namespace, manager, proctor = create_server(settings, channel)
    openapi = build_openapi(ENDPOINTS, API_PREFIX, "1")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        ctx = await open_context(settings, SocketBus(sio, manager), host_id=manager.host_id)
        adaptive.wire(ctx)
        app.state.ctx = ctx
        app.state.bus_manager = manager
        namespace.bind(ctx)
        proctor.bind(ctx)
        manager.start(sio)
        _tune_gc()
        presence = asyncio.create_task(presence_loop(ctx, namespace))
        host = ctx.presence.host_id
        heartbeat = Heartbeat(
            settings.redis_dsn,
            ctx.keys.host_alive(host),
            ctx.keys.hosts,
            host,
            settings.presence_ttl_s,
        )
        heartbeat.start()
        try:
            yield {}
        finally:
            heartbeat.stop()
            presence.cancel()
            await sio.eio.ping_clock.stop()
            await manager.stop()
            await close_context(ctx)

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi)

    rest = Starlette(
        routes=[
            *health.ROUTES,
            *web.ROUTES,
            Mount(
                API_PREFIX,
                routes=[
                    Route("/openapi.json", openapi_json, methods=["GET"]),
                    *(ep.route() for ep in ENDPOINTS),
                ],
            ),
        ],
        middleware=[
            Middleware(
                InFlightLimit,
                admission=namespace.admission,
                per_client=settings.max_in_flight_per_client,
                prefix=API_PREFIX,
            ),
            Middleware(
                BodySizeLimit, max_bytes=settings.max_body_bytes, exempt=files.is_upload_path
            ),
        ],
        exception_handlers={
            DomainError: errors.on_domain_error,
            HTTPException: errors.on_http_error,
            Exception: errors.on_unexpected_error,
        },
        lifespan=lifespan,
    )
    rest.state.sio = sio
    rest.state.allowed_methods = AllowedMethods(
        [(f"{API_PREFIX}/openapi.json", "GET")]
        + [(API_PREFIX + ep.path, ep.method) for ep in ENDPOINTS]
        + [(route.path, method) for route in health.ROUTES for method in route.methods or ()]
    )
    try:
        proxies = TrustedProxies(parse_networks(settings.trusted_proxies))
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    rest.state.trusted_proxies = proxies

    def edge(app: ASGIApp) -> ASGIApp:
        # The client's address is settled first, then handshake floods are refused before
        # engine.io or the namespace's authentication runs.
        rest.state.connect_limit = ConnectLimit(app, settings.connects_per_ip_per_s)
        return ClientAddress(rest.state.connect_limit, proxies)

    combined: ASGIApp = _HubApp(sio, rest, edge)
    return combined


class _HubApp(socketio.ASGIApp):  # type: ignore[misc]
    """python-socketio's ASGI app (REST beside it as `other_asgi_app`) behind the edge
    middleware, which must see Socket.IO handshakes as well as REST requests."""

    def __init__(
        self, sio: socketio.AsyncServer, rest: ASGIApp, edge: Callable[[ASGIApp], ASGIApp]
    ) -> None:
        super().__init__(sio, other_asgi_app=rest, socketio_path="socket.io")
        self._edge = edge(super().__call__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._edge(scope, receive, send)


def _tune_gc() -> None:
    """Objects made at start-up live for ever: freeze them out of collections, and let the
    young generation grow, so per-message garbage does not turn into full-collection stalls
    (measured in PERF_NOTES.md beside the project)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
