"""Liveness, readiness and metrics: outside /api/v1, never rate limited."""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.context import HubContext


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    ctx: HubContext = request.app.state.ctx
    checks = {"postgres": _check(ctx.db.ping()), "redis": _check(ctx.redis.ping())}
    results = dict(zip(checks, await asyncio.gather(*checks.values()), strict=True))
    # A listener that stopped hearing the bus is not ready, even if Redis answers pings.
    results["bus"] = request.app.state.bus_manager.listening
    ready = all(results.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": results},
        status_code=200 if ready else 503,
    )


async def _check(probe: object) -> bool:
    try:
        return bool(await asyncio.wait_for(probe, timeout=2))  # type: ignore[arg-type]
    except Exception:
        return False


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
