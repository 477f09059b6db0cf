"""A dependency that is down is an outage, not a bug: the caller gets a retryable
`unavailable` with `retry_after`, and the log gets one line per dependency every few seconds
instead of a traceback per request (~120 per hub in 5 s when PostgreSQL restarts)."""

from __future__ import annotations

import logging
import time

import asyncpg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hub import metrics
from hub.errors import DomainError, ErrorCode

logger = logging.getLogger("dreamseed.outages")

RETRY_AFTER_S = 2
_LOG_EVERY_S = 5.0
_last_logged: dict[str, float] = {}

# asyncpg: the server went away or refuses connections while it starts or stops.
_POSTGRES_DOWN: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    # "cannot switch to state 15; another operation (2) is in progress": a pooled connection
    # whose server went away mid-error (a restart) before asyncpg noticed it was closed. Seen
    # 1-2 times per PostgreSQL fault in the chaos runner, as 500s.
    asyncpg.exceptions.InternalClientError,
)
_REDIS_DOWN: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError)


def dependency_of(exc: BaseException) -> str | None:
    """'postgres' or 'redis' when `exc` says that dependency is unreachable, else None."""
    if isinstance(exc, _REDIS_DOWN):
        return "redis"
    if isinstance(exc, _POSTGRES_DOWN):
        return "postgres"
    if isinstance(exc, (OSError, TimeoutError)):  # refused or timed out opening a connection
        return "a backing service"
    return None


def as_unavailable(exc: BaseException, where: str) -> DomainError | None:
    """The retryable error for an outage (counted, logged at most every few seconds), or None
    when `exc` is not one and should be treated as the bug it is."""
    dependency = dependency_of(exc)
    if dependency is None:
        return None
    metrics.ERRORS.labels(where, str(ErrorCode.UNAVAILABLE)).inc()
    now = time.monotonic()
    if now - _last_logged.get(dependency, 0.0) >= _LOG_EVERY_S:
        _last_logged[dependency] = now
        logger.warning("%s unreachable (%s: %s); answering 'unavailable'", dependency, where, exc)
    return DomainError(
        ErrorCode.UNAVAILABLE,
        f"A service the hub needs ({dependency}) is unreachable; retry shortly",
        retry_after=RETRY_AFTER_S,
    )
