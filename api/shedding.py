"""Load shedding at the edge: handshakes per client address, and REST requests in flight.

Both refuse before any route, authentication or database work runs, so a refusal costs a few
microseconds; the socket events' cap is in hub/sockets/namespace.py, on the same Admission.
"""

from __future__ import annotations

import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response
from hub import metrics
from hub.admission import Admission, overloaded
from hub.ratelimit import LocalLimiter


class ConnectLimit:
    """At most `per_s` new Socket.IO sessions a second (burst: one second's worth) from one
    client address reach this process; the rest get 429 (polling) or a refused upgrade.

    Kept in this process: a handshake reaches one process, and a flood must be refused
    without a Redis round trip. Requests of an existing session (`sid=` in the query) pass.
    """

    def __init__(self, app: ASGIApp, per_s: int, path: str = "/socket.io") -> None:
        self.app = app
        self.path = path
        self.limiter = LocalLimiter(per_s, 1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] in ("http", "websocket")
            and scope["path"].startswith(self.path)
            and b"sid=" not in scope.get("query_string", b"")
        ):
            address = scope["client"][0] if scope.get("client") else "unknown"
            decision = self.limiter.hit(address, time.monotonic() * 1000)
            if not decision.allowed:
                metrics.CONNECTS_REFUSED.inc()
                await _refuse_connect(scope, send, decision.retry_after_s)
                return
        await self.app(scope, receive, send)


async def _refuse_connect(scope: Scope, send: Send, retry_after_s: float) -> None:
    if scope["type"] == "websocket":
        # Closing before accepting: the server answers the upgrade with 403.
        await send({"type": "websocket.close", "code": 1008})
        return
    wait = str(max(1, round(retry_after_s + 0.5)))
    body = json.dumps(
        {
            "error": {
                "code": "rate_limited",
                "message": "Too many connection attempts from this address",
                "retry_after": int(wait),
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", wait.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class InFlightLimit:
    """REST requests under `prefix` run in a slot of the process's Admission (shared with
    socket events) and of their client address; past either cap: 503 `overloaded`.

    The slot is given back when the response starts: a long download or event stream has
    done its work by then, and must not hold a slot for its whole life.
    """

    def __init__(self, app: ASGIApp, admission: Admission, per_client: int, prefix: str) -> None:
        self.app = app
        self.admission = admission
        self.per_client = per_client
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        caller = "ip:" + (scope["client"][0] if scope.get("client") else "unknown")
        if not self.admission.try_enter(caller, self.per_client):
            await error_response(overloaded("rest"))(scope, receive, send)
            return
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                self.admission.leave(caller)

        async def releasing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                release()
            await send(message)

        try:
            await self.app(scope, receive, releasing_send)
        finally:
            release()
