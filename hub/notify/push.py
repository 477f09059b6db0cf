"""Push notifications through Firebase Cloud Messaging (HTTP v1), with the firebase-admin client.

`messaging.send_each_async` sends one HTTP request per message, all of a batch at once. Two
things in firebase-admin 7.x make that slow, so the sender gives FCM's service its own HTTP
client (built from the library's own auth flow and retry transport):

- the library's httpx pool keeps the default limits (100 connections, 20 kept alive), and
  httpcore 1.0.x closes an idle connection whenever the pool holds more than 20 *in all*, so
  over HTTP/1.1 most requests of a busy batch open a new connection;
- it retries 500/503 up to four times with 1 + 2 + 4 s of back-off, holding the whole batch
  for seconds; we retry once at once and hand the rest back as `retry` for the job queue.

The access token is refreshed in a thread before a batch: the library's auth flow refreshes
it with blocking `requests` on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
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

import firebase_admin  # type: ignore[import-untyped]
import google.auth.exceptions
import google.auth.transport.requests
import httpx
from firebase_admin import credentials, exceptions, messaging
from firebase_admin._http_client import (  # type: ignore[import-untyped]
    METRICS_HEADERS,
    GoogleAuthCredentialFlow,
)
from firebase_admin._retry import HttpxRetry, HttpxRetryTransport  # type: ignore[import-untyped]
from google.auth.credentials import Credentials

logger = logging.getLogger("dreamseed.push")

BATCH_LIMIT = 500  # messages per send_each_async call, FCM's own limit
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")  # Web Push `Topic` header alphabet and length
_RETRY_ONCE = HttpxRetry(max_retries=1, status_forcelist=[500, 503])
_RETRYABLE = (
    exceptions.ResourceExhaustedError,  # 429, QUOTA_EXCEEDED
    exceptions.UnavailableError,  # 503, or the connection failed
    exceptions.InternalError,  # 500
    exceptions.DeadlineExceededError,  # timed out
)


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
    """The async client `_MessagingService` calls, with a pool that reuses its connections."""

    def __init__(self, credential: Credentials, timeout_s: float, max_connections: int) -> None:
        # Requests wait here rather than in httpcore's pool, whose every hand-over scans all
        # queued requests against all connections (quadratic in a batch of 500).
        self._slots = asyncio.Semaphore(max_connections)
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        transport = HttpxRetryTransport(retry=_RETRY_ONCE, limits=limits)
        self._client = httpx.AsyncClient(
            http2=True,
            timeout=timeout_s,
            headers=METRICS_HEADERS,
            auth=GoogleAuthCredentialFlow(credential),
            transport=transport,
        )

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async with self._slots:
            response = await self._client.request(method, url, **kwargs)
        return response.raise_for_status()

    async def aclose(self) -> None:
        await self._client.aclose()


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
        self._refreshing = asyncio.Lock()
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
        self._credential: Credentials = certificate.get_credential()
        self._client = _FcmHttpClient(self._credential, timeout_s, max_connections)
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
        if self._app is None:
            if pushes:
                logger.debug("Push notifications are off: dropped %d pushes.", len(pushes))
            return []
        if not pushes:
            return []
        try:
            await self._fresh_token()
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

    async def _fresh_token(self) -> None:
        if self._credential.valid:
            return
        async with self._refreshing:
            if not self._credential.valid:
                request = google.auth.transport.requests.Request()
                await asyncio.to_thread(self._credential.refresh, request)

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
    if isinstance(exc, _RETRYABLE):
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
