"""Push notifications through Firebase Cloud Messaging (HTTP v1), with the firebase-admin client.

`messaging.send_each_async` encodes each message, sends a batch of up to 500 as concurrent HTTP
requests (one per message) through the messaging service's async client, and maps FCM's error
replies to its exception types. We keep all of that but hand the service a client of our own
(and, for the stand-in, another URL). The one firebase-admin 7.7 builds is httpx with a single
pool, which on a 2-core machine costs ~3 ms of CPU per message: httpcore rescans every
connection of the pool when a request starts or ends (a socket poll per idle one), re-imports
the absent `sniffio` each time, and closes kept-alive connections once the pool holds more
than 20; it also retries 500/503 four times with 1 + 2 + 4 s of back-off, holding the batch.

Ours keeps the contract the service relies on (httpx responses, httpx errors) over an aiohttp
pool of kept-alive connections (~0.7 ms per message), refreshes the access token in a thread
instead of with blocking `requests` on the event loop, and retries a 500/503 once at once,
leaving the rest to the job queue as `retry`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json as _json
import logging
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import aiohttp
import firebase_admin  # type: ignore[import-untyped]
import google.auth.exceptions
import google.auth.transport.requests
import httpx
from firebase_admin import credentials, exceptions, messaging
from firebase_admin._http_client import METRICS_HEADERS  # type: ignore[import-untyped]
from google.auth.credentials import Credentials

logger = logging.getLogger("dreamseed.push")

BATCH_LIMIT = 500  # messages per send_each_async call, FCM's own limit
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")  # Web Push `Topic` header alphabet and length
_KEEPALIVE_S = 30.0
_RETRYABLE = (
    exceptions.ResourceExhaustedError,  # 429, QUOTA_EXCEEDED
    exceptions.UnavailableError,  # 503, or the connection failed
    exceptions.InternalError,  # 500
    exceptions.DeadlineExceededError,  # timed out
)  # and any network failure (a dropped keep-alive connection comes back as UnknownError)


class PushStatus(StrEnum):
    OK = "ok"
    UNREGISTERED = "unregistered"  # the token is dead: prune it
    RETRY = "retry"  # FCM is busy or down: send again later
    FAILED = "failed"  # anything else; sending again will not help


@dataclass(frozen=True, slots=True)
class Push:
    """One notification for one device. Pushes sharing a collapse key show once on the phone."""

    token: str
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)
    collapse_key: str = ""
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class PushResult:
    token: str
    status: PushStatus
    message_id: str | None = None
    retry_after: float | None = None  # seconds FCM asked us to wait, when it said
    error: str | None = None


class _FcmHttpClient:
    """The client `_MessagingService` sends through: its `request` contract (an httpx response,
    httpx errors) over an aiohttp pool of `max_connections` kept-alive connections."""

    def __init__(self, credential: Credentials, timeout_s: float, max_connections: int) -> None:
        self._credential = credential
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._max_connections = max_connections
        self._tls = httpx.create_ssl_context()  # certifi's roots, as firebase-admin's client
        self._session: aiohttp.ClientSession | None = None
        self._refreshing = asyncio.Lock()

    async def fresh_token(self, rejected: str | None = None) -> str:
        """The access token, refreshed in a thread when it is (nearly) expired or FCM refused it;
        the library's auth flow would refresh it with blocking `requests` on the event loop."""
        if self._credential.valid and self._credential.token != rejected:
            return str(self._credential.token)
        async with self._refreshing:
            if not self._credential.valid or self._credential.token == rejected:
                request = google.auth.transport.requests.Request()
                await asyncio.to_thread(self._credential.refresh, request)
        return str(self._credential.token)

    async def request(
        self, method: str, url: str, *, headers: dict[str, str], json: Any, **_: Any
    ) -> httpx.Response:
        session = self._session or self._open()
        body = _json.dumps(json).encode()
        headers = {**headers, **METRICS_HEADERS, "Content-Type": "application/json"}
        token = await self._token()
        response = await self._attempt(session, method, url, headers, token, body)
        if response.status_code == 401:  # revoked or expired early: sign in again, once
            token = await self._token(rejected=token)
            response = await self._attempt(session, method, url, headers, token, body)
        elif response.status_code in (500, 503):  # a blip: once more at once, then the queue
            response = await self._attempt(session, method, url, headers, token, body)
        return response.raise_for_status()

    async def _token(self, rejected: str | None = None) -> str:
        try:
            return await self.fresh_token(rejected)
        except google.auth.exceptions.TransportError as exc:  # the token endpoint is unreachable
            raise httpx.ConnectError(f"FCM sign-in failed: {exc}") from exc

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, keepalive_timeout=_KEEPALIVE_S, ssl=self._tls
        )
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        headers: dict[str, str],
        token: str,
        body: bytes,
    ) -> httpx.Response:
        request = httpx.Request(method, url)
        sent = {**headers, "Authorization": f"Bearer {token}"}
        # firebase-admin maps httpx errors (not aiohttp's) to its FirebaseError types
        try:
            async with session.request(method, url, data=body, headers=sent) as reply:
                content = await reply.read()
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out", request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.NetworkError(str(exc), request=request) from exc
        return httpx.Response(
            reply.status, headers=list(reply.raw_headers), content=content, request=request
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class PushSender:
    """Sends pushes to FCM; disabled (sends nothing) when no service account is configured."""

    def __init__(
        self,
        service_account: Path | None,
        *,
        endpoint: str | None = None,
        max_connections: int = 100,
        batches_in_flight: int = 4,
        timeout_s: float = 30.0,
    ) -> None:
        self._app: Any = None
        self._client: _FcmHttpClient | None = None
        self._batches = asyncio.Semaphore(batches_in_flight)
        if service_account is None:
            logger.warning(
                "Push notifications are off: no FCM service account is configured "
                "(set FCM_SERVICE_ACCOUNT to a service-account JSON file)."
            )
            return
        certificate = credentials.Certificate(str(service_account))
        self._app = firebase_admin.initialize_app(
            certificate, {"httpTimeout": timeout_s}, name=f"dreamseed-push-{uuid.uuid4().hex}"
        )
        self._client = _FcmHttpClient(certificate.get_credential(), timeout_s, max_connections)
        service = messaging._get_messaging_service(self._app)
        service._async_client = self._client
        if endpoint is not None:
            service._fcm_url = (
                f"{endpoint.rstrip('/')}/v1/projects/{certificate.project_id}/messages:send"
            )
        logger.info("Push notifications go to FCM project %s.", certificate.project_id)

    @property
    def enabled(self) -> bool:
        return self._app is not None

    async def send(self, pushes: Sequence[Push]) -> list[PushResult]:
        """Hand pushes to FCM; one result per push, in order (none when disabled)."""
        if self._app is None or self._client is None:
            if pushes:
                logger.debug("Push notifications are off: dropped %d pushes.", len(pushes))
            return []
        if not pushes:
            return []
        try:
            await self._client.fresh_token()
        except google.auth.exceptions.GoogleAuthError as exc:
            retryable = isinstance(exc, google.auth.exceptions.TransportError) or getattr(
                exc, "retryable", False
            )
            logger.error("FCM sign-in failed: %s", exc)
            status = PushStatus.RETRY if retryable else PushStatus.FAILED
            error = f"FCM sign-in failed: {exc}"
            return [PushResult(p.token, status, error=error) for p in pushes]
        batches = [pushes[i : i + BATCH_LIMIT] for i in range(0, len(pushes), BATCH_LIMIT)]
        sent = await asyncio.gather(*(self._send_batch(batch) for batch in batches))
        return [result for batch_results in sent for result in batch_results]

    async def aclose(self) -> None:
        app, client = self._app, self._client
        self._app = self._client = None
        if app is None or client is None:
            return
        await client.aclose()
        # delete_app closes the messaging service with asyncio.run(), which fails inside a
        # running loop; in a thread it finds the client closed already and returns.
        await asyncio.to_thread(firebase_admin.delete_app, app)

    async def _send_batch(self, pushes: Sequence[Push]) -> list[PushResult]:
        results: list[PushResult | None] = [_refused(push) for push in pushes]
        todo = [push for push, result in zip(pushes, results, strict=True) if result is None]
        if not todo:
            return [r for r in results if r is not None]
        async with self._batches:
            try:
                batch = await messaging.send_each_async(
                    [_message(push) for push in todo], app=self._app
                )
            except exceptions.FirebaseError as exc:
                logger.exception("FCM batch of %d failed", len(todo))
                return [
                    r or PushResult(p.token, PushStatus.FAILED, error=str(exc))
                    for p, r in zip(pushes, results, strict=True)
                ]
        replies = iter(batch.responses)
        return [r or _result(p, next(replies)) for p, r in zip(pushes, results, strict=True)]


def _refused(push: Push) -> PushResult | None:
    """A push firebase-admin would refuse, failing the whole batch with it."""
    if not push.token:
        return PushResult(push.token, PushStatus.FAILED, error="the device token is empty")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in push.data.items()):
        return PushResult(push.token, PushStatus.FAILED, error="push data must map str to str")
    return None


def _message(push: Push) -> Any:
    collapse = push.collapse_key or None
    android = messaging.AndroidConfig(
        collapse_key=collapse,
        priority="high" if push.urgent else "normal",
        notification=messaging.AndroidNotification(tag=collapse),
    )
    apns_headers = {"apns-priority": "10" if push.urgent else "5"}
    webpush_headers = {"Urgency": "high" if push.urgent else "normal"}
    if collapse is not None:
        apns_headers["apns-collapse-id"] = _fit_apns(collapse)
        webpush_headers["Topic"] = _fit_topic(collapse)
    message = messaging.Message(
        notification=messaging.Notification(title=push.title, body=push.body),
        data=dict(push.data),
        android=android,
        apns=messaging.APNSConfig(headers=apns_headers),
        webpush=messaging.WebpushConfig(
            headers=webpush_headers, notification=messaging.WebpushNotification(tag=collapse)
        ),
    )
    # firebase-admin 7.7 deprecates Message(token=...) for `fid`, which takes installation ids
    # only; FCM still takes registration tokens (and ids) in message.token. Setting it after
    # construction skips the warning the library raises for every message.
    message.token = push.token
    return message


def _fit_apns(key: str) -> str:
    """apns-collapse-id is at most 64 bytes."""
    return key if len(key.encode()) <= 64 else hashlib.sha256(key.encode()).hexdigest()


def _fit_topic(key: str) -> str:
    """A Web Push Topic is at most 32 characters of the URL-safe base64 alphabet."""
    if _TOPIC.fullmatch(key):
        return key
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()).decode()[:32]


def _result(push: Push, reply: Any) -> PushResult:
    if reply.success:
        return PushResult(push.token, PushStatus.OK, message_id=str(reply.message_id))
    exc: exceptions.FirebaseError = reply.exception
    if isinstance(exc, messaging.UnregisteredError | messaging.SenderIdMismatchError) or (
        isinstance(exc, exceptions.InvalidArgumentError) and _about_token(exc)
    ):
        return PushResult(push.token, PushStatus.UNREGISTERED, error=str(exc))
    if isinstance(exc, _RETRYABLE) or isinstance(exc.cause, httpx.TransportError):
        return PushResult(
            push.token, PushStatus.RETRY, retry_after=_retry_after(exc), error=str(exc)
        )
    return PushResult(push.token, PushStatus.FAILED, error=f"{exc.code}: {exc}")


def _about_token(exc: Any) -> bool:
    """INVALID_ARGUMENT names the token (rather than the payload) as what is wrong."""
    if "registration token" in str(exc).lower():
        return True
    try:
        details = exc.http_response.json()["error"].get("details", [])
    except (AttributeError, KeyError, TypeError, ValueError):
        return False
    return any(
        violation.get("field") in ("message.token", "message.fid")
        for detail in details
        for violation in detail.get("fieldViolations", [])
    )


def _retry_after(exc: Any) -> float | None:
    response: httpx.Response | None = getattr(exc, "http_response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
