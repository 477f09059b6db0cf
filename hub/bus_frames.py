"""What travels on the Redis bus between hub processes (and from workers), and on which channel.

Routing: an emit to a room is published on that room's own channel, and a hub subscribes to
the channel of every room it holds a socket of. Redis then hands each emit only to the hubs
with a member of the room, so the bus costs a hub nothing for rooms it does not hold (the
"dynamic" mode of socket.io's sharded Redis adapter, on plain pub/sub so it runs on Redis 6
as well; on a Redis Cluster the same channels would move to SPUBLISH/SSUBSCRIBE). Emits to no
room (a broadcast) or to several rooms go on the base channel, which every hub hears; each
hub also has a channel of its own, for its heartbeat.

A frame is the publisher's 16-byte id, one kind byte, then msgpack: a hub skips its own
frames (it delivered them locally already) by comparing bytes, without decoding. msgpack,
not JSON: it carries binary attachments as they are and costs less to encode and decode
(loadtest/bus_codec_bench.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

import msgpack

ORIGIN_BYTES = 16


class Kind(bytes, Enum):
    EMIT = b"E"
    CONTROL = b"C"
    # "I now hold these rooms too": hubs that delivered them locally only must publish again.
    # Sent on the hellos channel with the room channels listed, one frame per batch of rooms
    # (a frame on a room's own channel, with no body, is the older form and still understood).
    HELLO = b"H"
    HEARTBEAT = b"B"


@dataclass(frozen=True)
class Emit:
    namespace: str
    room: str | list[str] | None
    event: str
    args: list[Any]
    skip_sid: str | list[str] | None = None


@dataclass(frozen=True)
class Control:
    """Act on the sockets of one user: join or leave a room, or be disconnected."""

    type: str  # "join" | "leave" | "disconnect"
    user: str
    room: str | None = None
    reason: str | None = None
    session: str | None = None


def room_channel(base: str, room: str) -> str:
    """A room's channel: one per room name, whatever the namespace (the frame names it)."""
    return f"{base}#r#{room}"


def hub_channel(base: str, host_id: str) -> str:
    return f"{base}#h#{host_id}"


def hellos_channel(base: str) -> str:
    """Every hub hears every HELLO here: one message per batch of newly held rooms, instead
    of one per room channel, which a hub restart makes thousands of at once."""
    return f"{base}#hello"


def origin_of(host_id: str) -> bytes:
    """The 16 bytes that open every frame a process publishes (host_id: 32 hex digits)."""
    origin = bytes.fromhex(host_id)
    assert len(origin) == ORIGIN_BYTES, "host ids are uuid4().hex"  # noqa: S101
    return origin


def encode_emit(origin: bytes, emit: Emit) -> bytes:
    body = [emit.namespace, emit.room, emit.event, emit.args, emit.skip_sid]
    packed: bytes = msgpack.packb(body, use_bin_type=True)
    return origin + Kind.EMIT.value + packed


def encode_control(origin: bytes, control: Control) -> bytes:
    body = [control.type, control.user, control.room, control.reason, control.session]
    packed: bytes = msgpack.packb(body, use_bin_type=True)
    return origin + Kind.CONTROL.value + packed


def encode_hello(origin: bytes, channels: list[str]) -> bytes:
    packed: bytes = msgpack.packb(channels, use_bin_type=True)
    return origin + Kind.HELLO.value + packed


def decode_hello(frame: bytes) -> list[str]:
    """The room channels a HELLO names (none for the older, bodiless form)."""
    if len(frame) == ORIGIN_BYTES + 1:
        return []
    channels = msgpack.unpackb(frame[ORIGIN_BYTES + 1 :], raw=False)
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise ValueError("a HELLO lists room channels")
    return channels


def encode_signal(origin: bytes, kind: Kind) -> bytes:
    """A frame with no body: HELLO or HEARTBEAT."""
    return origin + kind.value


def kind_of(frame: bytes) -> Kind | None:
    try:
        return Kind(frame[ORIGIN_BYTES : ORIGIN_BYTES + 1])
    except ValueError:
        return None


def decode_emit(frame: bytes) -> Emit:
    namespace, room, event, args, skip_sid = _body(frame)
    return Emit(namespace, room, event, args, skip_sid)


def decode_control(frame: bytes) -> Control:
    type_, user, room, reason, session = _body(frame)
    return Control(type_, user, room, reason, session)


def _body(frame: bytes) -> list[Any]:
    body: list[Any] = msgpack.unpackb(frame[ORIGIN_BYTES + 1 :], raw=False)
    return body
