"""A local stand-in for Firebase Cloud Messaging: the HTTP v1 `messages:send` endpoint and the
OAuth token endpoint a service account signs in at, on 127.0.0.1.

It runs its own event loop in a thread: google-auth fetches tokens with blocking `requests`,
and a stand-in on the caller's loop would wait on the very call that blocks it. Run it as a
process (`python -m tests.fcm_standin --delay 0.02`) to keep it off the caller's CPU; it then
prints its base URL and a service-account file, and `GET /_stats` returns its counters.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PROJECT_ID = "dreamseed-test"
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
# FCM accepts a token carrying either scope; firebase-admin asks for cloud-platform (and more)
_SCOPES = {
    "https://www.googleapis.com/auth/firebase.messaging",
    "https://www.googleapis.com/auth/cloud-platform",
}
# google-auth signs for Google's token endpoint whatever the file's token_uri says
_GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


class Behaviour(StrEnum):
    OK = "ok"
    UNREGISTERED = "unregistered"  # 404 NOT_FOUND, FcmError UNREGISTERED
    INVALID_TOKEN = "invalid_token"  # 400 INVALID_ARGUMENT, "not a valid registration token"
    INVALID_TOKEN_FIELD = "invalid_token_field"  # 400 INVALID_ARGUMENT, BadRequest on message.token
    INVALID_PAYLOAD = "invalid_payload"  # 400 INVALID_ARGUMENT on the payload, not the token
    SENDER_ID_MISMATCH = "sender_id_mismatch"  # 403 PERMISSION_DENIED, SENDER_ID_MISMATCH
    QUOTA_EXCEEDED = "quota_exceeded"  # 429 RESOURCE_EXHAUSTED with Retry-After
    UNAVAILABLE = "unavailable"  # 503 on every attempt, with Retry-After
    UNAVAILABLE_ONCE = "unavailable_once"  # 503 on the first attempt, then success


@dataclass(frozen=True)
class _Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def _error(
    status: int, code: str, message: str, *details: dict[str, Any], headers: dict[str, str] | None
) -> _Reply:
    body = {"error": {"code": status, "message": message, "status": code, "details": list(details)}}
    return _Reply(status, body, headers or {})


def _fcm(error_code: str) -> dict[str, Any]:
    return {"@type": _FCM_ERROR, "errorCode": error_code}


_UNAVAILABLE = (503, "UNAVAILABLE", "The service is currently unavailable.")
_PAYLOAD_VIOLATION = {
    "@type": _BAD_REQUEST,
    "fieldViolations": [{"field": "message.data[0].key", "description": "Invalid data key: from"}],
}
_TOKEN_VIOLATION = {
    "@type": _BAD_REQUEST,
    "fieldViolations": [{"field": "message.token", "description": "Invalid registration token"}],
}
# behaviour -> (HTTP status, status, message, details, sends Retry-After), as FCM answers them
_FAILURES: dict[Behaviour, tuple[int, str, str, tuple[dict[str, Any], ...], bool]] = {
    Behaviour.UNREGISTERED: (
        404,
        "NOT_FOUND",
        "Requested entity was not found.",
        (_fcm("UNREGISTERED"),),
        False,
    ),
    Behaviour.INVALID_TOKEN: (
        400,
        "INVALID_ARGUMENT",
        "The registration token is not a valid FCM registration token",
        (_fcm("INVALID_ARGUMENT"),),
        False,
    ),
    Behaviour.INVALID_TOKEN_FIELD: (
        400,
        "INVALID_ARGUMENT",
        "Request contains an invalid argument.",
        (_fcm("INVALID_ARGUMENT"), _TOKEN_VIOLATION),
        False,
    ),
    Behaviour.INVALID_PAYLOAD: (
        400,
        "INVALID_ARGUMENT",
        "Request contains an invalid argument.",
        (_fcm("INVALID_ARGUMENT"), _PAYLOAD_VIOLATION),
        False,
    ),
    Behaviour.SENDER_ID_MISMATCH: (
        403,
        "PERMISSION_DENIED",
        "SenderId mismatch",
        (_fcm("SENDER_ID_MISMATCH"),),
        False,
    ),
    Behaviour.QUOTA_EXCEEDED: (
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded for this device.",
        (_fcm("QUOTA_EXCEEDED"),),
        True,
    ),
    Behaviour.UNAVAILABLE: (*_UNAVAILABLE, (_fcm("UNAVAILABLE"),), True),
    Behaviour.UNAVAILABLE_ONCE: (*_UNAVAILABLE, (_fcm("UNAVAILABLE"),), False),
}


class FcmStandIn:
    """FCM on 127.0.0.1 with programmable answers per device token, and counters to assert on."""

    def __init__(self, *, delay_s: float = 0.0, project_id: str = PROJECT_ID) -> None:
        self.delay_s = delay_s
        self.project_id = project_id
        self.retry_after_s = 7
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._client_email = f"push@{project_id}.iam.gserviceaccount.com"
        self._access_tokens: set[str] = set()
        self._behaviours: dict[str, Behaviour] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.reset()

    # -- programming and counters -------------------------------------------------------------

    def program(self, token: str, behaviour: Behaviour) -> None:
        self._behaviours[token] = behaviour

    def revoke_access_tokens(self) -> None:
        """Refuse every access token issued so far, as FCM does with a revoked key's."""
        with self._lock:
            self._access_tokens.clear()

    def reset(self) -> None:
        """Forget programmed answers and zero the counters (issued access tokens stay valid)."""
        with self._lock:
            self._behaviours = {}
            self.requests = 0
            self.token_requests = 0
            self.rejected_auth = 0
            self.peers: set[tuple[str, int]] = set()
            self.attempts: Counter[str] = Counter()
            self.messages: list[dict[str, Any]] = []
            self.in_flight = 0
            self.max_in_flight = 0

    @property
    def connections(self) -> int:
        """Distinct TCP connections (client address and port) that carried a send."""
        return len(self.peers)

    def stats(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "connections": self.connections,
            "token_requests": self.token_requests,
            "max_in_flight": self.max_in_flight,
            "messages": len(self.messages),
        }

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_service_account(self, path: Path) -> Path:
        """A service-account file whose key this stand-in trusts and whose token_uri is here."""
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        info = {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": secrets.token_hex(20),
            "private_key": pem,
            "client_email": self._client_email,
            "client_id": "100000000000000000000",
            "token_uri": f"{self.base_url}/token",
        }
        path.write_text(json.dumps(info))
        return path

    # -- HTTP handlers ------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant, assertion = form.get("grant_type"), form.get("assertion")
        if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer" or not isinstance(assertion, str):
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        try:
            claims = jwt.decode(
                assertion,
                self._key.public_key(),
                algorithms=["RS256"],
                audience=_GOOGLE_TOKEN_AUDIENCE,
                issuer=self._client_email,
            )
        except jwt.PyJWTError as exc:
            return web.json_response(
                {"error": "invalid_grant", "error_description": str(exc)}, status=400
            )
        if not _SCOPES & set(str(claims.get("scope", "")).split()):
            return web.json_response({"error": "invalid_scope"}, status=400)
        access_token = f"ya29.standin-{secrets.token_urlsafe(16)}"
        with self._lock:
            self.token_requests += 1
            self._access_tokens.add(access_token)
        return web.json_response(
            {"access_token": access_token, "expires_in": 3600, "token_type": "Bearer"}
        )

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _send(self, request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        with self._lock:
            self.requests += 1
            if peer is not None:
                self.peers.add((peer[0], peer[1]))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            reply = await self._answer(request)
        finally:
            with self._lock:
                self.in_flight -= 1
        return web.json_response(reply.body, status=reply.status, headers=reply.headers)

    async def _answer(self, request: web.Request) -> _Reply:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self._access_tokens:
            with self._lock:
                self.rejected_auth += 1
            return _error(401, "UNAUTHENTICATED", "Request had invalid credentials.", headers=None)
        if request.match_info["project"] != self.project_id:
            return _error(404, "NOT_FOUND", "Requested entity was not found.", headers=None)
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.", headers=None)
        problem = _shape_problem(body)
        if problem is not None:
            field, description = problem
            violation = {
                "@type": _BAD_REQUEST,
                "fieldViolations": [{"field": field, "description": description}],
            }
            return _error(400, "INVALID_ARGUMENT", description, violation, headers=None)
        message = body["message"]
        token = message.get("token") or message["fid"]
        with self._lock:
            self.attempts[token] += 1
            attempt = self.attempts[token]
            self.messages.append(body)
        return self._scripted(self._behaviours.get(token, Behaviour.OK), attempt, body)

    def _scripted(self, behaviour: Behaviour, attempt: int, body: dict[str, Any]) -> _Reply:
        failure = _FAILURES.get(behaviour)
        if behaviour is Behaviour.UNAVAILABLE_ONCE and attempt > 1:
            failure = None
        if failure is not None:
            status, code, message, details, retry_after = failure
            headers = {"Retry-After": str(self.retry_after_s)} if retry_after else None
            return _error(status, code, message, *details, headers=headers)
        name = f"projects/{self.project_id}/messages/0:{time.time_ns()}%{next(self._ids):08x}"
        if body.get("validate_only"):
            name = f"projects/{self.project_id}/messages/fake_message_id"
        return _Reply(200, {"name": name}, {})

    # -- lifecycle ----------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/projects/{project}/messages:send", self._send)
        app.router.add_post("/token", self._token)
        app.router.add_get("/_stats", self._stats)
        return app

    async def _start_server(self) -> None:
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def start(self) -> FcmStandIn:
        """Serve from a thread of its own; returns once the port is bound."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        started = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._start_server())
            started.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name="fcm-standin", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("FCM stand-in did not start within 10 s")
        return self

    def stop(self) -> None:
        loop, runner, thread = self._loop, self._runner, self._thread
        if loop is None or thread is None:
            return
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._runner = self._thread = None


def _shape_problem(body: Any) -> tuple[str, str] | None:
    """The first way `body` breaks FCM's request shape, as (field, description), if any."""
    if not isinstance(body, dict) or set(body) - {"message", "validate_only"}:
        return "", "Invalid JSON payload received. Unknown name."
    message = body.get("message")
    if not isinstance(message, dict):
        return "message", "Recipient of the message is not set."
    targets = [k for k in ("token", "fid", "topic", "condition") if message.get(k)]
    if targets not in (["token"], ["fid"]):
        return "message", "Recipient of the message is not set, or set more than once."
    data = message.get("data", {})
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return "message.data", "Invalid value at 'message.data' (TYPE_STRING)"
    android = message.get("android", {})
    if android.get("priority", "normal") not in ("normal", "high"):
        return "message.android.priority", "Invalid value at 'message.android.priority'"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--service-account", type=Path, default=Path("fcm-standin-sa.json"))
    args = parser.parse_args()
    standin = FcmStandIn(delay_s=args.delay).start()
    standin.write_service_account(args.service_account)
    print(standin.base_url, args.service_account, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        standin.stop()


if __name__ == "__main__":
    main()
