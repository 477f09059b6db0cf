"""ASGI middleware that must see a request before any route does."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub import metrics
from hub.errors import ErrorCode


class BodySizeLimit:
    """Refuse HTTP bodies over `max_bytes` with 413, by header or by counting the stream."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, exempt: Callable[[str], bool] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Paths that enforce a limit of their own while streaming (file uploads).
        self.exempt = exempt or (lambda path: False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"].startswith("/socket.io")
            or self.exempt(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not response_started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        metrics.ERRORS.labels("rest", str(ErrorCode.PAYLOAD_TOO_LARGE)).inc()
        body = json.dumps(
            {
                "error": {
                    "code": str(ErrorCode.PAYLOAD_TOO_LARGE),
                    "message": f"The request body is larger than {self.max_bytes} bytes",
                    "limit": self.max_bytes,
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
