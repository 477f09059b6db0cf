"""Push through the real firebase-admin client against a local stand-in that speaks FCM HTTP v1."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from hub.notify.push import Push, PushSender, PushStatus
from tests.fcm_standin import Behaviour, FcmStandIn


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FcmStandIn]:
    server = FcmStandIn().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def service_account(standin: FcmStandIn, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return standin.write_service_account(tmp_path_factory.mktemp("fcm") / "service-account.json")


@pytest.fixture
async def sender(standin: FcmStandIn, service_account: Path) -> AsyncIterator[PushSender]:
    standin.reset()
    standin.delay_s = 0.0
    push = PushSender(service_account, endpoint=standin.base_url, max_connections=32)
    try:
        yield push
    finally:
        await push.aclose()


def _push(token: str, *, collapse_key: str = "conv-1", urgent: bool = False) -> Push:
    return Push(
        token=token,
        title="새 메시지",
        body="김 선생님: 내일 시험 범위는 3단원입니다",
        data={"conversation_id": "conv-1"},
        collapse_key=collapse_key,
        urgent=urgent,
    )


async def test_success_returns_message_ids(sender: PushSender, standin: FcmStandIn) -> None:
    """Accepted pushes come back ok with FCM's message names, signed in once with a bearer token."""
    results = await sender.send([_push("tok-a"), _push("tok-b"), _push("tok-c")])

    assert [r.token for r in results] == ["tok-a", "tok-b", "tok-c"]
    assert all(r.status is PushStatus.OK for r in results)
    assert all(
        re.fullmatch(r"projects/dreamseed-test/messages/0:\d+%[0-9a-f]+", r.message_id or "")
        for r in results
    )
    assert len({r.message_id for r in results}) == 3
    assert standin.requests == 3 and standin.rejected_auth == 0
    assert standin.token_requests <= 1
    assert not any(m.get("validate_only") for m in standin.messages)
    assert standin.messages[0]["message"]["notification"] == {
        "title": "새 메시지",
        "body": "김 선생님: 내일 시험 범위는 3단원입니다",
    }


async def test_dead_tokens_come_back_unregistered(sender: PushSender, standin: FcmStandIn) -> None:
    """UNREGISTERED, an INVALID_ARGUMENT about the token and SENDER_ID_MISMATCH mean prune it."""
    standin.program("gone", Behaviour.UNREGISTERED)
    standin.program("garbled", Behaviour.INVALID_TOKEN)
    standin.program("truncated", Behaviour.INVALID_TOKEN_FIELD)
    standin.program("other-project", Behaviour.SENDER_ID_MISMATCH)
    tokens = ["gone", "garbled", "truncated", "other-project"]

    results = await sender.send([_push(token) for token in tokens])

    assert [r.status for r in results] == [PushStatus.UNREGISTERED] * 4
    assert all(r.error for r in results)


async def test_payload_errors_fail_without_pruning(sender: PushSender, standin: FcmStandIn) -> None:
    """An INVALID_ARGUMENT about the payload, or a push the client would refuse, is `failed`."""
    standin.program("bad-payload", Behaviour.INVALID_PAYLOAD)

    results = await sender.send([_push("bad-payload"), _push(""), _push("fine")])

    assert [r.status for r in results] == [PushStatus.FAILED, PushStatus.FAILED, PushStatus.OK]
    assert "INVALID_ARGUMENT" in (results[0].error or "")
    assert results[1].error == "the device token is empty"
    assert standin.requests == 2


async def test_busy_fcm_comes_back_as_retry(sender: PushSender, standin: FcmStandIn) -> None:
    """429 and a lasting 503 (retried once) come back as `retry` with FCM's Retry-After."""
    standin.program("quota", Behaviour.QUOTA_EXCEEDED)
    standin.program("down", Behaviour.UNAVAILABLE)

    results = await sender.send([_push("quota"), _push("down")])

    assert [r.status for r in results] == [PushStatus.RETRY, PushStatus.RETRY]
    assert [r.retry_after for r in results] == [7.0, 7.0]
    assert standin.attempts["quota"] == 1
    assert standin.attempts["down"] == 2


async def test_a_passing_503_is_retried_and_delivered(
    sender: PushSender, standin: FcmStandIn
) -> None:
    """A 503 that clears on the next attempt is retried at once and comes back ok."""
    standin.program("blip", Behaviour.UNAVAILABLE_ONCE)

    [result] = await sender.send([_push("blip")])

    assert result.status is PushStatus.OK and result.message_id
    assert standin.attempts["blip"] == 2


async def test_a_refused_access_token_is_replaced(sender: PushSender, standin: FcmStandIn) -> None:
    """When FCM stops taking the access token, the sender signs in again and the pushes go."""
    await sender.send([_push("tok-a")])
    standin.revoke_access_tokens()

    results = await sender.send([_push(f"tok-{i}") for i in range(20)])

    assert all(r.status is PushStatus.OK for r in results)
    assert standin.token_requests == 2
    assert 1 <= standin.rejected_auth <= 20


async def test_collapse_key_and_priority_reach_the_wire(
    sender: PushSender, standin: FcmStandIn
) -> None:
    """Collapse key and urgency become Android, APNs and Web Push fields FCM understands."""
    long_key = "conversation:0b0f6a8e-8d4c-4d52-9d1e-7c1f2a3b4c5d/announcement:일정 변경 안내"
    await sender.send(
        [
            _push("urgent", collapse_key="conv-1", urgent=True),
            _push("calm", collapse_key=long_key),
            _push("calm-again", collapse_key=long_key),
        ]
    )
    wire = {m["message"]["token"]: m["message"] for m in standin.messages}

    urgent = wire["urgent"]
    assert urgent["android"]["collapse_key"] == "conv-1"
    assert urgent["android"]["priority"] == "high"
    assert urgent["android"]["notification"]["tag"] == "conv-1"
    assert urgent["apns"]["headers"] == {"apns-collapse-id": "conv-1", "apns-priority": "10"}
    assert urgent["webpush"]["headers"] == {"Topic": "conv-1", "Urgency": "high"}
    assert urgent["webpush"]["notification"]["tag"] == "conv-1"
    assert urgent["data"] == {"conversation_id": "conv-1"}

    calm, again = wire["calm"], wire["calm-again"]
    assert calm["android"]["priority"] == "normal"
    assert calm["apns"]["headers"]["apns-priority"] == "5"
    assert calm["webpush"]["headers"]["Urgency"] == "normal"
    assert calm["android"]["collapse_key"] == long_key
    assert len(calm["apns"]["headers"]["apns-collapse-id"].encode()) <= 64
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,32}", calm["webpush"]["headers"]["Topic"])
    assert calm["apns"]["headers"] == again["apns"]["headers"]
    assert calm["webpush"]["headers"] == again["webpush"]["headers"]


async def test_a_thousand_pushes_share_a_few_connections(
    sender: PushSender, standin: FcmStandIn
) -> None:
    """1,000 pushes go out concurrently, one request each, over at most 32 reused connections."""
    standin.delay_s = 0.05
    pushes = [_push(f"tok-{i}") for i in range(1000)]

    results = await sender.send(pushes)

    assert [r.token for r in results] == [p.token for p in pushes]
    assert all(r.status is PushStatus.OK for r in results)
    assert standin.requests == 1000
    assert standin.connections <= 32
    assert standin.max_in_flight >= 8
    assert standin.token_requests <= 1


async def test_disabled_sender_logs_and_sends_nothing(
    standin: FcmStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a service account the sender says so once, is disabled and sends nothing."""
    standin.reset()
    with caplog.at_level(logging.WARNING, logger="dreamseed.push"):
        sender = PushSender(None, endpoint=standin.base_url)

    assert not sender.enabled
    assert any("no FCM service account" in r.getMessage() for r in caplog.records)
    assert await sender.send([_push("tok-a")]) == []
    assert standin.requests == 0 and standin.token_requests == 0
    await sender.aclose()


@pytest.fixture
def stranger_account(service_account: Path, tmp_path: Path) -> Path:
    """The test service account with a key the stand-in has never seen."""
    info = json.loads(service_account.read_text())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info["private_key"] = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = tmp_path / "stranger.json"
    path.write_text(json.dumps(info))
    return path


async def test_refused_sign_in_fails_pushes_unsent(
    standin: FcmStandIn, stranger_account: Path
) -> None:
    """A service account whose key FCM does not trust fails the pushes before any is sent."""
    standin.reset()
    sender = PushSender(stranger_account, endpoint=standin.base_url)
    try:
        results = await sender.send([_push("tok-a"), _push("tok-b")])
    finally:
        await sender.aclose()

    assert [r.status for r in results] == [PushStatus.FAILED, PushStatus.FAILED]
    assert "FCM sign-in failed" in (results[0].error or "")
    assert "invalid_grant" in (results[0].error or "")
    assert standin.requests == 0 and standin.token_requests == 0
