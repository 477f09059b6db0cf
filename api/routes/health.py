"""Liveness, readiness and metrics: outside /api/v1, never rate limited."""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub import jobs
from hub import metrics as hub_metrics
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
    ctx: HubContext = request.app.state.ctx
    # The job queue is measured where it is scraped: any hub sees the shared queue.
    now_ms = int(ctx.clock().timestamp() * 1000)
    with contextlib.suppress(Exception):
        hub_metrics.JOB_QUEUE_DEPTH.set(await jobs.queue_depth(ctx.redis, ctx.keys.job_queue))
        hub_metrics.JOB_QUEUE_LAG.set(await jobs.queue_lag_s(ctx.redis, ctx.keys.job_queue, now_ms))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
