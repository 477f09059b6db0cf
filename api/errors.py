"""The one place REST turns errors into JSON: {"error": {"code", "message", ...}}."""

from __future__ import annotations

import logging
import math
from typing import cast

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub import metrics
from hub.errors import DomainError, ErrorCode
from hub.outages import as_unavailable

logger = logging.getLogger("dreamseed.api")

STATUS_OF: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION: 422,
    ErrorCode.MALFORMED_JSON: 400,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.TOKEN_EXPIRED: 401,
    ErrorCode.TOKEN_INVALID: 401,
    ErrorCode.TOKEN_REUSED: 401,
    ErrorCode.SESSION_REVOKED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.EMAIL_TAKEN: 409,
    ErrorCode.LINK_EXPIRED: 409,
    ErrorCode.NOT_A_STUDENT: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.ATTEMPT_FINISHED: 409,
    ErrorCode.DEADLINE_PASSED: 409,
    ErrorCode.ALREADY_ANSWERED: 409,
    ErrorCode.OUT_OF_ORDER: 409,
    ErrorCode.NO_ATTEMPTS_LEFT: 409,
    ErrorCode.EXAM_CLOSED: 409,
    ErrorCode.EXAM_IN_PROGRESS: 403,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
    ErrorCode.MUTED: 403,
    ErrorCode.INVITATION_INVALID: 409,
    ErrorCode.FILE_REFUSED: 422,
    ErrorCode.FILE_INFECTED: 422,
    ErrorCode.FILE_NOT_READY: 409,
    ErrorCode.FILE_GONE: 410,
    ErrorCode.QUOTA_EXCEEDED: 429,
    ErrorCode.UPLOAD_INCOMPLETE: 400,
    ErrorCode.TUTOR_NOT_CONFIGURED: 503,
    ErrorCode.TUTOR_DISABLED: 403,
    ErrorCode.TUTOR_REFUSED: 422,
    ErrorCode.TOO_MANY_IN_FLIGHT: 429,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.LAST_ADMIN: 409,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.RANGE_NOT_SATISFIABLE: 416,
    ErrorCode.OVERLOADED: 503,
    ErrorCode.CONSENT_REQUIRED: 403,
}

_RETRYABLE = (ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE, ErrorCode.OVERLOADED)
_HTTP_CODES = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.VALIDATION}


def validation_error(exc: ValidationError, where: str) -> DomainError:
    """Name every failing field, e.g. 'email: value is not a valid email address'."""
    fields = [
        {
            "field": ".".join(str(p) for p in err["loc"]) or where,
            "message": err["msg"],
            "type": err["type"],
        }
        for err in exc.errors(include_url=False, include_input=False)
    ]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return DomainError(ErrorCode.VALIDATION, f"Invalid {where}: {summary}", fields=fields)


def error_response(error: DomainError, headers: dict[str, str] | None = None) -> JSONResponse:
    metrics.ERRORS.labels("rest", str(error.code)).inc()
    status = STATUS_OF.get(error.code, 400)
    if error.code in _RETRYABLE and "retry_after" in error.details:
        # HTTP wants whole seconds; the body keeps the precise figure.
        wait = max(1, math.ceil(float(error.details["retry_after"])))
        headers = {**(headers or {}), "Retry-After": str(wait)}
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse({"error": error.to_dict()}, status_code=status, headers=headers)


async def on_domain_error(request: Request, exc: Exception) -> Response:
    return error_response(cast(DomainError, exc))


async def on_http_error(request: Request, exc: Exception) -> Response:
    exc = cast(HTTPException, exc)
    if exc.status_code == 405:
        return _method_not_allowed(request)
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.VALIDATION)
    metrics.ERRORS.labels("rest", str(code)).inc()
    message = "No such endpoint" if exc.status_code == 404 else str(exc.detail)
    return JSONResponse(
        {"error": {"code": str(code), "message": message}},
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def on_unexpected_error(request: Request, exc: Exception) -> Response:
    outage = as_unavailable(exc, "rest")
    if outage is not None:
        return JSONResponse(
            {"error": outage.to_dict()},
            status_code=503,
            headers={"Retry-After": str(outage.details["retry_after"])},
        )
    logger.exception("Unhandled error on %s %s", request.method, request.url.path)
    metrics.ERRORS.labels("rest", str(ErrorCode.INTERNAL)).inc()
    return JSONResponse(
        {"error": {"code": str(ErrorCode.INTERNAL), "message": "Something went wrong on our side"}},
        status_code=500,
    )


def _method_not_allowed(request: Request) -> Response:
    """OPTIONS lists the path's methods; any other method it lacks is 405 with the same list."""
    allowed = request.app.state.allowed_methods.of(request.url.path)
    headers = {"Allow": ", ".join(allowed)}
    if request.method == "OPTIONS":
        return Response(status_code=204, headers=headers)
    metrics.ERRORS.labels("rest", str(ErrorCode.METHOD_NOT_ALLOWED)).inc()
    message = f"{request.method} is not allowed here; use {', '.join(allowed)}"
    return JSONResponse(
        {"error": {"code": str(ErrorCode.METHOD_NOT_ALLOWED), "message": message}},
        status_code=405,
        headers=headers,
    )
