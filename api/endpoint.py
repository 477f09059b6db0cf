"""Declares a REST endpoint once: its models validate the request, shape the reply,
and describe it in the OpenAPI document.

Every request goes: rate limit (per user, per IP before login) -> authenticate ->
validate body and query -> call one domain function -> serialise the declared response.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response as HttpResponse
from starlette.routing import Route

from api.errors import STATUS_OF, validation_error
from hub import metrics
from hub.accounts.sessions import require_live_session
from hub.context import Actor, HubContext, RequestMeta
from hub.errors import DomainError, ErrorCode
from hub.outages import as_unavailable
from schema.models.common import Request as RequestModel
from schema.models.common import Response as ResponseModel


@dataclass
class Call:
    """What a handler receives: validated input and who is asking."""

    ctx: HubContext
    request: Request
    actor: Actor | None
    body: Any
    query: Any
    meta: RequestMeta

    @property
    def user(self) -> Actor:
        assert self.actor is not None, "endpoint declared auth=False but reads the user"  # noqa: S101
        return self.actor

    def path_uuid(self, name: str) -> UUID:
        raw = self.request.path_params[name]
        try:
            return UUID(raw)
        except ValueError:
            raise DomainError(
                ErrorCode.VALIDATION,
                f"{name}: '{raw[:60]}' is not a UUID",
                fields=[{"field": name, "message": "not a UUID"}],
            ) from None


Handler = Callable[[Call], Awaitable[Any]]


@dataclass
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    body: type[RequestModel] | None = None
    query: type[RequestModel] | None = None
    response: type[ResponseModel] | None = None
    status: int = 200
    auth: bool = True
    tags: list[str] = field(default_factory=list)
    # False only where something else gates the request (an HMAC-signed file URL: a school
    # behind one NAT address fetches many thumbnails a minute).
    rate_limited: bool = True
    # A handler that shapes its own reply (a download, a stream, tus) declares it here, status
    # -> media type ("" for no body), so the OpenAPI document tells the truth about it.
    raw: dict[int, str] = field(default_factory=dict)

    def route(self) -> Route:
        return Route(self.path, self._serve, methods=[self.method], name=self.handler.__name__)

    async def _serve(self, request: Request) -> HttpResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await self._run(request)
            status = response.status_code
            return response
        except DomainError as exc:
            status = STATUS_OF.get(exc.code, 400)
            raise
        except Exception as exc:
            # An outage answers 503 unavailable here, as a DomainError: Starlette's handler
            # for other exceptions re-raises, and the server would log a traceback each time.
            outage = as_unavailable(exc, "rest")
            if outage is None:
                raise
            status = 503
            raise outage from None
        finally:
            metrics.HTTP_REQUESTS.labels(self.path, str(status)).inc()
            metrics.HTTP_LATENCY.labels(self.path).observe(time.perf_counter() - started)

    async def _run(self, request: Request) -> HttpResponse:
        ctx: HubContext = request.app.state.ctx
        meta = RequestMeta(
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
        )
        actor = await _authenticate(ctx, request, meta) if self.auth else None
        if self.rate_limited:
            await _limit(ctx, f"user:{actor.user_id}" if actor else f"ip:{meta.ip}")
        body = await _parse_body(request, self.body) if self.body else None
        query = _parse_query(request, self.query) if self.query else None
        if not self.body and not self.query:
            _refuse_unexpected_body(request)
        result = await self.handler(Call(ctx, request, actor, body, query, meta))
        if isinstance(result, HttpResponse):
            return result  # a handler that shapes its own reply (file downloads, SSE streams)
        if self.response is None:
            return HttpResponse(status_code=204 if self.status == 200 else self.status)
        model = self.response.model_validate(result)
        return HttpResponse(
            model.model_dump_json(), status_code=self.status, media_type="application/json"
        )


def endpoint(
    method: str,
    path: str,
    *,
    summary: str,
    body: type[RequestModel] | None = None,
    query: type[RequestModel] | None = None,
    response: type[ResponseModel] | None = None,
    status: int = 200,
    auth: bool = True,
    tag: str = "",
    rate_limited: bool = True,
    raw: dict[int, str] | None = None,
) -> Callable[[Handler], Endpoint]:
    def declare(handler: Handler) -> Endpoint:
        return Endpoint(
            method,
            path,
            handler,
            summary,
            body,
            query,
            response,
            status,
            auth,
            [tag] if tag else [],
            rate_limited,
            raw or {},
        )

    return declare


async def _authenticate(ctx: HubContext, request: Request, meta: RequestMeta) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        await _limit(ctx, f"ip:{meta.ip}")
        raise DomainError(
            ErrorCode.UNAUTHENTICATED, "Sign in first: send 'Authorization: Bearer <token>'"
        )
    try:
        claims = ctx.tokens.verify_access(token.strip())
    except DomainError:
        await _limit(ctx, f"ip:{meta.ip}")
        raise
    await require_live_session(ctx, claims.user_id, claims.session_id)
    return Actor(claims.user_id, claims.session_id)


async def _limit(ctx: HubContext, bucket: str) -> None:
    limiter = ctx.rate_limiter
    decision = await limiter.hit(ctx.keys.rate_limit(bucket), int(ctx.clock().timestamp() * 1000))
    if not decision.allowed:
        metrics.RATE_LIMITED.labels(bucket.split(":", 1)[0]).inc()
        retry_after = max(1, round(decision.retry_after_s + 0.5))
        raise DomainError(
            ErrorCode.RATE_LIMITED,
            f"Too many requests: at most {limiter.limit} a minute",
            retry_after=retry_after,
        )


async def _parse_body(request: Request, model: type[BaseModel]) -> BaseModel:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DomainError(ErrorCode.MALFORMED_JSON, f"The body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DomainError(
            ErrorCode.VALIDATION,
            "The body must be a JSON object",
            fields=[{"field": "body", "message": "expected a JSON object"}],
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, "body") from None


def _parse_query(request: Request, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise validation_error(exc, "query") from None


def _refuse_unexpected_body(request: Request) -> None:
    if int(request.headers.get("content-length") or 0) > 0 and request.method in ("POST", "PUT"):
        raise DomainError(ErrorCode.VALIDATION, "This endpoint takes no request body")
