"""Issue 13: the Socket.IO protocol layer under malformed input, over a raw websocket.

Each malformed Engine.IO / Socket.IO packet must end in one of two ways: the connection is
closed cleanly, or it goes on answering (an event sent after it is acknowledged). Never a
traceback in the hub's log, and a bystander's connection keeps receiving throughout.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
import pytest

from hub.settings import Settings
from tests.fuzz_world import School, build_school
from tests.sockets import Client
from tests.support import Factory

PROBE = '421["presence.query",{"user_ids":[]}]'

# (what it is, the frames sent: str is a text frame, bytes a binary one)
MALFORMED: list[tuple[str, list[str | bytes]]] = [
    ("empty frame", [""]),
    ("unknown engine.io type", ["x"]),
    ("engine.io type out of range", ["9"]),
    ("message without a socket.io packet", ["4"]),
    ("event without data", ["42"]),
    ("broken json", ["42["]),
    ("event that is an object", ['42{"a":1}']),
    ("event without a name", ["42[]"]),
    ("event named by a number", ["42[1,2]"]),
    ("event named null", ["42[null]"]),
    ("json nested 100,000 deep", ["42[" + "[" * 100_000 + "]" * 100_000 + "]"]),
    ("an integer of 5,000 digits", ['42["presence.query",' + "9" * 5000 + "]"]),
    ("NaN and Infinity", ['42["presence.query",{"user_ids":[NaN,Infinity]}]']),
    (
        "a binary-attachment count of 10^9",
        ['451000000000-["message.send",{"_placeholder":true,"num":0}]'],
    ),
    ("an attachment count with no digits", ['45-["message.send",{}]']),
    (
        "a placeholder past the attachments",
        ['451-["message.send",{"_placeholder":true,"num":7}]', b"\x00\x01"],
    ),
    ("a binary frame nobody announced", [b"\x00\xffjunk"]),
    ("a binary frame that looks like an event", [b'42["presence.query",{"user_ids":[]}]']),
    ("connect to an unknown namespace", ['40/nope,{"token":"x"}']),
    ("disconnect from an unknown namespace", ["41/nope,"]),
    ("event on a namespace never joined", ['42/proctor,["heartbeat",{}]']),
    ("an ack id of 200 digits", ["42" + "1" * 200 + '["presence.query",{}]']),
    ("an ack nobody asked for", ['43999["x"]']),
    ("a connect error sent by a client", ['44{"message":"x"}']),
    ("engine.io upgrade on an upgraded socket", ["5"]),
    ("engine.io noop", ["6"]),
    ("engine.io close", ["1"]),
]
# The client said CLOSE itself: its session ends (checked on the hub) and nothing answers; the
# websocket is the client's to close.
SILENT = {"engine.io close"}


async def _handshake(session: aiohttp.ClientSession, base: str, token: str) -> Any:
    ws = await session.ws_connect(
        base.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", max_msg_size=0
    )
    opened = await ws.receive_str(timeout=5)
    assert opened.startswith("0"), opened
    await ws.send_str("40" + json.dumps({"token": token}))
    connected = await ws.receive_str(timeout=5)
    assert connected.startswith("40"), connected
    return ws


async def _answers_or_closed(ws: Any, wait_s: float = 5) -> str:
    """'answers' when a probe event is acknowledged, 'closed' when the hub closed the session
    (an engine.io CLOSE packet, or the websocket's close)."""
    if ws.closed:
        return "closed"
    heard: list[str] = []
    try:
        await ws.send_str(PROBE)
        while True:
            msg = await ws.receive(timeout=wait_s)
            heard.append(str(msg.data)[:80])
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                return "closed"
            if msg.type == aiohttp.WSMsgType.TEXT and msg.data == "1":
                return "closed"  # engine.io CLOSE: the hub ended the session
            if msg.type == aiohttp.WSMsgType.TEXT and msg.data.startswith("431["):
                return "answers"
            if msg.type == aiohttp.WSMsgType.TEXT and msg.data == "2":
                await ws.send_str("3")  # engine.io ping: answer, keep waiting
    except (ConnectionResetError, aiohttp.ClientConnectionError):
        return "closed"
    except TimeoutError:
        return "silent" if not heard else f"neither answered nor closed; heard {heard}"


async def _bystander_hears(api: Any, school: School, bystander: Client, marker: str) -> None:
    room = school.ids["conversation_id"]
    for _ in range(20):
        sent = await api.post(
            f"/conversations/{room}/messages",
            json={"client_msg_id": marker, "content": marker},
            headers=school.teacher.headers,
        )
        if sent.status_code != 429:
            break
        # One marker per case outruns the per-sender message rate on a fast machine.
        await asyncio.sleep(float(sent.json()["error"]["retry_after"]))
    assert sent.status_code == 201, sent.text
    while (await bystander.next("message.new"))["client_msg_id"] != marker:
        pass


async def _only_the_bystander_left(namespace: Any) -> None:
    """The malformed connection's session is gone from the hub, not left for the ping timeout."""
    for _ in range(200):
        if len(namespace.connections) == 1:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{len(namespace.connections)} sessions held, expected the bystander's")


@pytest.mark.timeout(120)
async def test_malformed_packets_close_cleanly_or_are_answered(
    api: Any,
    factory: Factory,
    connect: Any,
    hub_server: tuple[str, Any],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every malformed packet: a clean close or an answered probe, no traceback, and a
    bystander in the same conversation keeps receiving."""
    namespace = hub_server[1].other_asgi_app.state.sio.namespace_handlers["/"]
    school = await build_school(api, factory, "Protocol School")
    bystander = await connect(school.student)
    caplog.set_level(logging.WARNING)
    outcomes: dict[str, str] = {}
    async with aiohttp.ClientSession() as session:
        for name, frames in MALFORMED:
            ws = await _handshake(session, hub_server[0], school.teacher.token)
            try:
                for frame in frames:
                    if isinstance(frame, bytes):
                        await ws.send_bytes(frame)
                    else:
                        await ws.send_str(frame)
                outcomes[name] = await _answers_or_closed(ws, 1 if name in SILENT else 5)
            finally:
                await ws.close()
            await _bystander_hears(api, school, bystander, f"after-{len(outcomes)}")
            await _only_the_bystander_left(namespace)
        oversized = await _handshake(session, hub_server[0], school.teacher.token)
        await oversized.send_str('42["message.send","' + "x" * (settings.max_body_bytes + 1) + '"]')
        outcomes["a frame past the size limit"] = await _answers_or_closed(oversized)
        await oversized.close()
    await _bystander_hears(api, school, bystander, "after-all")
    tracebacks = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not tracebacks, [f"{r.name}: {r.getMessage()[:200]}" for r in tracebacks]
    odd = {
        k: v
        for k, v in outcomes.items()
        if v not in ("answers", "closed") and not (k in SILENT and v == "silent")
    }
    assert not odd, odd
    assert outcomes["a frame past the size limit"] == "closed"
    assert outcomes["a binary-attachment count of 10^9"] == "closed"
    assert bystander.sio.connected
    assert await factory.fetchval("SELECT count(*) FROM messages") == len(MALFORMED) + 2
