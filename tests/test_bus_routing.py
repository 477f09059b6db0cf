"""The bus routes each emit to the hubs holding its room only (issue 12, targets 4 and 5).

Three hubs in this process (the session's hub and two more, each a real uvicorn with its own
manager and Redis connections), so each hub's count of frames it heard can be read.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import pytest
import socketio
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from api.app import create_app
from hub import bus_frames as frames
from hub.bus import conversation_room, user_room
from hub.keys import RedisKeys
from hub.presence.presence import Presence
from hub.settings import Settings
from hub.sockets.manager import HubManager
from tests.hubs import serve_in_process
from tests.sockets import Client, Refused
from tests.support import Factory, User

Hub = tuple[str, Any]  # (url, the app)


@asynccontextmanager
async def _serve(settings: Settings) -> AsyncIterator[Hub]:
    app = create_app(settings)
    async with serve_in_process(app) as url:
        yield url, app


@pytest.fixture(scope="module")
async def hubs(settings: Settings, hub_server: Hub) -> AsyncIterator[list[Hub]]:
    async with _serve(settings) as second, _serve(settings) as third:
        yield [hub_server, second, third]


@pytest.fixture
async def open_on(clean: None) -> AsyncIterator[Callable[[Hub, User], Awaitable[Client]]]:
    clients: list[Client] = []

    async def open_client(hub: Hub, user: User) -> Client:
        client = Client()
        clients.append(client)
        return await client.connect(hub[0], user.token)

    yield open_client
    for client in clients:
        await client.close()


def _manager(hub: Hub) -> HubManager:
    manager: HubManager = hub[1].other_asgi_app.state.bus_manager
    return manager


def _emits(hubs: list[Hub], conversation: UUID) -> list[int]:
    """How many emits each hub heard on the conversation's channel from other processes."""
    channel = frames.room_channel(_manager(hubs[0]).base_channel, conversation_room(conversation))
    return [_manager(h).heard[channel.encode()] for h in hubs]


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within 5 s: {what}")


def _send(conversation: UUID, text: str) -> dict[str, Any]:
    return {
        "conversation_id": str(conversation),
        "client_msg_id": uuid.uuid4().hex,
        "content": text,
    }


async def test_an_emit_reaches_only_the_hubs_holding_its_room(
    hubs: list[Hub], open_on: Callable[[Hub, User], Awaitable[Client]], factory: Factory
) -> None:
    """A message between hubs 0 and 1 is heard by hub 1 only; hub 2, holding another pair's
    receiver, hears just that pair's message (the marker)."""
    org = await factory.org()
    a, b = await factory.user("student", org), await factory.user("teacher", org)
    c, d = await factory.user("student", org), await factory.user("teacher", org)
    first = await factory.conversation("direct", org, [], [a, b])
    second = await factory.conversation("direct", org, [], [c, d])
    on_b, on_c = await open_on(hubs[1], b), await open_on(hubs[2], c)
    on_a, on_d = await open_on(hubs[0], a), await open_on(hubs[0], d)
    assert (await on_b.next("user.online"))["user_id"] == str(a.id)
    assert (await on_c.next("user.online"))["user_id"] == str(d.id)
    sent = await on_a.call("message.send", _send(first, "between hubs 0 and 1"))
    assert (await on_b.next("message.new"))["id"] == sent["id"]
    marker = await on_d.call("message.send", _send(second, "between hubs 0 and 2"))
    assert (await on_c.next("message.new"))["id"] == marker["id"]
    # Hub 0 holds every sender: its own frames come back to it undecoded.
    assert _emits(hubs, first) == [0, 1, 0]
    assert _emits(hubs, second) == [0, 0, 1]


async def test_a_room_held_by_one_hub_is_delivered_without_redis(
    hubs: list[Hub],
    open_on: Callable[[Hub, User], Awaitable[Client]],
    factory: Factory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Once a publish finds no other hub on the room's channel, sends in that room are
    delivered with no publish at all (the publisher even points at a closed port); a second
    hub joining the room (its HELLO) brings the publishing back."""
    org = await factory.org()
    e, f = await factory.user("student", org), await factory.user("teacher", org)
    conv = await factory.conversation("direct", org, [], [e, f])
    hub = hubs[1]
    manager = _manager(hub)
    channel = frames.room_channel(manager.base_channel, conversation_room(conv))
    on_f, on_e = await open_on(hub, f), await open_on(hub, e)
    await _until(lambda: channel in manager._confirmed, "subscription confirmed")
    first = await on_e.call("message.send", _send(conv, "learns it is alone"))
    assert (await on_f.next("message.new"))["id"] == first["id"]
    assert channel in manager._alone
    published, publisher = manager.published, manager.redis
    manager.redis = Redis(host="127.0.0.1", port=_closed_port(), retry=Retry(NoBackoff(), 0))
    try:
        with caplog.at_level(logging.ERROR, logger="dreamseed.bus"):
            for text in ("local one", "local two"):
                ack = await on_e.call("message.send", _send(conv, text))
                assert (await on_f.next("message.new"))["id"] == ack["id"]
    finally:
        await manager.redis.aclose()
        manager.redis = publisher
    assert manager.published == published
    assert not [r for r in caplog.records if "publish" in r.getMessage()]
    elsewhere = await open_on(hubs[2], f)
    await _until(lambda: channel not in manager._alone, "the HELLO of hub 2")
    ack = await on_e.call("message.send", _send(conv, "two hubs again"))
    assert (await elsewhere.next("message.new"))["id"] == ack["id"]
    assert manager.published == published + 1


async def test_binary_data_crosses_the_bus(
    hubs: list[Hub], open_on: Callable[[Hub, User], Awaitable[Client]], factory: Factory
) -> None:
    """An emit with bytes in it, made on hub 0, reaches a socket on hub 2 byte for byte."""
    user = await factory.user()
    client = await open_on(hubs[2], user)
    blob = bytes(range(256))
    sio = hubs[0][1].other_asgi_app.state.sio
    await sio.emit("file.updated", {"blob": blob, "n": 1}, room=user_room(user.id))
    assert await client.next("file.updated") == {"blob": blob, "n": 1}


@pytest.mark.parametrize(
    "record",
    [
        frames.Emit("/", "conv:1", "message.new", [{"id": "x", "seq": 3, "blob": b"\x00\xff"}]),
        frames.Emit("/proctor", ["a", "b"], "exam.signal", [1, 2.5, None, True], ["s1"]),
        frames.Emit("/", None, "sync.required", [], "sid-1"),
        frames.Control("join", "u1", room="conv:2"),
        frames.Control("leave", "u1", room="conv:2"),
        frames.Control("disconnect", "u1", reason="logout", session="s9"),
    ],
)
def test_every_frame_survives_msgpack(record: frames.Emit | frames.Control) -> None:
    """Every frame kind decodes to what was encoded, binary included, behind its origin."""
    origin = frames.origin_of(uuid.uuid4().hex)
    if isinstance(record, frames.Emit):
        frame = frames.encode_emit(origin, record)
        assert frames.kind_of(frame) is frames.Kind.EMIT
        assert frames.decode_emit(frame) == record
    else:
        frame = frames.encode_control(origin, record)
        assert frames.kind_of(frame) is frames.Kind.CONTROL
        assert frames.decode_control(frame) == record
    assert frame[: frames.ORIGIN_BYTES] == origin
    for kind in (frames.Kind.HELLO, frames.Kind.HEARTBEAT):
        assert frames.kind_of(frames.encode_signal(origin, kind)) is kind
    rooms = ["bus#r#user:1", "bus#r#conv:2"]
    hello = frames.encode_hello(origin, rooms)
    assert frames.kind_of(hello) is frames.Kind.HELLO
    assert frames.decode_hello(hello) == rooms
    assert frames.decode_hello(frames.encode_signal(origin, frames.Kind.HELLO)) == []
    with pytest.raises(ValueError):
        frames.decode_hello(origin + frames.Kind.HELLO.value + b"\x01")


async def test_msgpack_is_an_opt_in_wire_serializer(
    settings: Settings, factory: Factory, clean: None
) -> None:
    """A hub set to SOCKETIO_SERIALIZER=msgpack talks to a msgpack client: handshake, an
    acknowledged send, and binary data in an event."""
    org = await factory.org()
    a, b = await factory.user("student", org), await factory.user("teacher", org)
    conv = await factory.conversation("direct", org, [], [a, b])
    packed = settings.model_copy(update={"socketio_serializer": "msgpack"})
    async with _serve(packed) as hub:
        sender, reader = _msgpack_client(), _msgpack_client()
        try:
            await sender.connect(hub[0], a.token)
            await reader.connect(hub[0], b.token)
            ack = await sender.call("message.send", _send(conv, "packed"))
            got = await reader.next("message.new")
            assert got["id"] == ack["id"] and got["content"] == "packed"
            sio = hub[1].other_asgi_app.state.sio
            await sio.emit("file.updated", {"blob": b"\x01\x02"}, room=user_room(b.id))
            assert await reader.next("file.updated") == {"blob": b"\x01\x02"}
        finally:
            await sender.close()
            await reader.close()


def _msgpack_client() -> Client:
    """The tests' client, speaking msgpack instead of JSON."""
    client = Client()
    client.sio = socketio.AsyncClient(reconnection=False, serializer="msgpack")
    for event in _EVENTS:
        client.sio.on(event, client._recorder(event))
    client.sio.on("disconnect", lambda *args: client.disconnected.set())
    return client


_EVENTS = ("message.new", "file.updated", "user.online", "user.offline", "session.closed")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_connections_arriving_together_are_refused_one_by_one(
    hub_server: Hub, factory: Factory, settings: Settings, clean: None
) -> None:
    """Handshakes made at once (they share presence and bus subscription batches) keep their own
    outcome: a revoked session and a session that does not exist are refused with their own
    code, the good ones connect and come online."""
    org = await factory.org()
    good, also_good = await factory.user("student", org), await factory.user("teacher", org)
    revoked, deleted = await factory.user("student", org), await factory.user("student", org)
    await factory.conversation("direct", org, [], [good, also_good])
    await factory.fetch("UPDATE sessions SET revoked_at = now() WHERE id = $1", revoked.session_id)
    await factory.fetch("DELETE FROM sessions WHERE id = $1", deleted.session_id)
    clients = [Client() for _ in range(4)]
    users = (good, revoked, also_good, deleted)
    outcomes = await asyncio.gather(
        *(c.connect(hub_server[0], u.token) for c, u in zip(clients, users, strict=True)),
        return_exceptions=True,
    )
    try:
        assert [type(o).__name__ for o in outcomes] == ["Client", "Refused", "Client", "Refused"]
        codes = [o.data["data"]["code"] for o in outcomes if isinstance(o, Refused)]
        assert codes == ["session_revoked", "token_invalid"]
        ctx = hub_server[1].other_asgi_app.state.ctx
        now_ms = int(ctx.clock().timestamp() * 1000)
        states = await ctx.presence.states([u.id for u in users], now_ms)
        assert [states[u.id].online for u in users] == [True, False, True, False]
    finally:
        for client in clients:
            await client.close()


async def test_a_socket_arriving_while_a_presence_batch_is_written_is_not_forgotten(
    redis: Redis, settings: Settings, clean: None
) -> None:
    """A socket that connects while the previous batch's MULTI is on its way is recorded by
    the next batch of the same writer, without waiting for yet another connection."""
    presence = Presence(redis, RedisKeys(settings.redis_namespace), uuid.uuid4().hex, 20)
    first = asyncio.create_task(presence.connected(uuid.uuid4(), "sid-1", 1_000))
    # Until the first batch has left the queue and its MULTI is in flight (no event to wait on).
    while presence._arrivals or presence._flush is None:  # noqa: ASYNC110
        await asyncio.sleep(0)
    assert not presence._flush.done()
    second = await asyncio.wait_for(presence.connected(uuid.uuid4(), "sid-2", 1_000), 5)
    assert second is True and await first is True


async def test_an_emptied_room_stays_subscribed_for_a_while_then_is_dropped(
    hubs: list[Hub], open_on: Callable[[Hub, User], Awaitable[Client]], factory: Factory
) -> None:
    """The last socket of a room leaving keeps the hub on the room's channel (a reconnect
    needs no SUBSCRIBE); once `linger_s` has passed, the sweep unsubscribes it in Redis."""
    user = await factory.user()
    manager = _manager(hubs[2])
    channel = frames.room_channel(manager.base_channel, user_room(user.id))
    client = await open_on(hubs[2], user)
    await _until(lambda: channel in manager._confirmed, "subscription confirmed")
    await client.close()
    await _until(lambda: channel in manager._lingering, "the room emptied")
    assert channel.encode() in manager.pubsub.channels
    linger, manager.linger_s = manager.linger_s, 0.0
    try:
        manager._sweep_lingering()
        await _until(lambda: channel.encode() not in manager.pubsub.channels, "unsubscribed")
    finally:
        manager.linger_s = linger
    numsub = dict(await manager.redis.pubsub_numsub(channel))
    assert numsub[channel.encode()] == 0
