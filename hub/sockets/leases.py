"""Access tokens of long-lived sockets, any namespace: checked at connect, renewed, expired.

A socket is authorised by the access token it connected with, which expires (15 minutes by
default). The client renews it with `auth.refresh` {access_token}; a socket whose token lapses
is sent `auth.expired` and closed, so a revoked or stale login cannot keep a socket for ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import socketio

from hub import metrics
from hub.accounts.sessions import (
    LIVE_SESSION_SQL,
    require_live_session,
    session_refusal,
)
from hub.clock import wire_time
from hub.context import Actor, HubContext
from hub.errors import DomainError, ErrorCode
from hub.tokens import AccessClaims
from schema.models.chat import AuthRefresh


def refuse(code: ErrorCode, message: str) -> Exception:
    """Refuse a handshake: the client's connect_error carries {"message", "data": {"code"}}."""
    metrics.ERRORS.labels("socket", str(code)).inc()
    refusal: Exception = socketio.exceptions.ConnectionRefusedError(message, {"code": str(code)})
    return refusal


async def authenticate(ctx: HubContext, auth: Any) -> AccessClaims:
    """The claims of the access token in a handshake's {"token": ...}, or a refusal."""
    claims = verify_token(ctx, auth)
    async with ctx.db.acting_lean(claims.user_id) as conn:
        row = await conn.fetchrow(LIVE_SESSION_SQL, claims.session_id, claims.user_id)
    refusal = refusal_of_session(row)
    if refusal is not None:
        raise refusal
    return claims


def verify_token(ctx: HubContext, auth: Any) -> AccessClaims:
    """The signature and expiry of a handshake's token, without the session row: for a
    caller that reads that row in its own query and then refuses with `refusal_of_session`.

    Not Redis's revocation list either: every revocation is committed to the session row
    (`revoked_at`) before it is listed there, and both callers read that row next, so the list
    would cost a round trip per handshake and refuse nothing more (REST checks it, having no
    row to read)."""
    token = auth.get("token") if isinstance(auth, dict) else None
    if not isinstance(token, str) or not token:
        raise refuse(ErrorCode.UNAUTHENTICATED, "Send {'token': <access token>} as auth")
    try:
        claims = ctx.tokens.verify_access(token)
    except DomainError as exc:
        raise refuse(exc.code, exc.message) from None
    return claims


def refusal_of_session(row: asyncpg.Record | None) -> Exception | None:
    """The handshake refusal for a session row read with LIVE_SESSION_SQL's columns."""
    refusal = session_refusal(row)
    return refuse(refusal.code, refusal.message) if refusal is not None else None


class Leases:
    def __init__(self, namespace: socketio.AsyncNamespace, ctx: Callable[[], HubContext]) -> None:
        self._namespace = namespace
        self._ctx = ctx
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def grant(self, sid: str, expires_at: float) -> None:
        """(Re)start the socket's clock: it is closed at `expires_at` (a Unix time)."""
        self.revoke(sid)
        loop = asyncio.get_running_loop()
        delay = max(0.0, expires_at - self._ctx().clock().timestamp())
        self._timers[sid] = loop.call_later(delay, lambda: loop.create_task(self._expire(sid)))

    def revoke(self, sid: str) -> None:
        """Forget the socket (it disconnected)."""
        timer = self._timers.pop(sid, None)
        if timer is not None:
            timer.cancel()

    async def renew(self, sid: str, actor: Actor, data: Any) -> tuple[Actor, dict[str, Any]]:
        """Check a fresh token for the same user; return the new actor and the ack.

        On refusal the actor is unchanged and the ack is the error.
        """
        ctx = self._ctx()
        try:
            body = AuthRefresh.model_validate(data)
            claims = ctx.tokens.verify_access(body.access_token)
            if claims.user_id != actor.user_id:
                raise DomainError(ErrorCode.FORBIDDEN, "The token belongs to another user")
            await require_live_session(ctx, claims.user_id, claims.session_id)
        except DomainError as exc:
            metrics.ERRORS.labels("socket", str(exc.code)).inc()
            return actor, {"error": {"code": str(exc.code), "message": exc.message}}
        except Exception:
            metrics.ERRORS.labels("socket", str(ErrorCode.VALIDATION)).inc()
            error = {"code": "validation_error", "message": "Expected {access_token}"}
            return actor, {"error": error}
        self.grant(sid, claims.expires_at.timestamp())
        renewed = Actor(claims.user_id, claims.session_id)
        return renewed, {"ok": True, "expires_at": wire_time(claims.expires_at)}

    async def _expire(self, sid: str) -> None:
        if self._timers.pop(sid, None) is None:
            return
        metrics.ERRORS.labels("socket", str(ErrorCode.TOKEN_EXPIRED)).inc()
        await self._namespace.emit(
            "auth.expired",
            {"code": "token_expired", "message": "The access token expired; reconnect"},
            to=sid,
        )
        await self._namespace.disconnect(sid)
