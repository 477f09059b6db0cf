"""msgpack against JSON, for what the hub encodes and decodes per message (issue 12, target 5).

Two places: the bus between hubs (python-socketio's Redis manager published a JSON dict; our
frames are msgpack, hub/bus_frames.py), and the Socket.IO wire (python-socketio's JSON
packets, or its opt-in msgpack packets). CPU only, one process, no I/O: run it on a quiet
core, e.g. `taskset -c 1 .venv/bin/python loadtest/bus_codec_bench.py`.
"""

from __future__ import annotations

import json
import sys
import timeit
import uuid
from pathlib import Path
from typing import Any

from socketio import msgpack_packet, packet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub import bus_frames as frames

MESSAGE = {
    "id": str(uuid.uuid4()),
    "conversation_id": str(uuid.uuid4()),
    "seq": 1234,
    "sender_id": str(uuid.uuid4()),
    "client_msg_id": uuid.uuid4().hex,
    "content": "17:30 질문: 2번 문제요 — can you explain the second step?",
    "message_type": "text",
    "created_at": "2026-12-07T03:30:00.123456Z",
    "edited_at": None,
    "attachments": [],
    "reply_to": None,
}
SEND = {"conversation_id": MESSAGE["conversation_id"], "client_msg_id": "c1", "content": "hi"}


def per_call_us(fn: Any, number: int = 20_000, repeat: int = 5) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def bus() -> dict[str, float]:
    room = f"conv:{MESSAGE['conversation_id']}"
    stock = {
        "method": "emit",
        "event": "message.new",
        "data": [MESSAGE],
        "binary": False,
        "namespace": "/",
        "room": room,
        "skip_sid": None,
        "callback": None,
        "host_id": uuid.uuid4().hex,
    }
    origin = frames.origin_of(uuid.uuid4().hex)
    emit = frames.Emit("/", room, "message.new", [MESSAGE])
    as_json, as_msgpack = json.dumps(stock).encode(), frames.encode_emit(origin, emit)
    return {
        "json_encode_us": per_call_us(lambda: json.dumps(stock).encode()),
        "json_decode_us": per_call_us(lambda: json.loads(as_json)),
        "json_bytes": len(as_json),
        "msgpack_encode_us": per_call_us(lambda: frames.encode_emit(origin, emit)),
        "msgpack_decode_us": per_call_us(lambda: frames.decode_emit(as_msgpack)),
        "msgpack_bytes": len(as_msgpack),
    }


def wire() -> dict[str, float]:
    out: dict[str, float] = {}
    for name, cls in (("json", packet.Packet), ("msgpack", msgpack_packet.MsgPackPacket)):
        event = cls(packet.EVENT, namespace="/", data=["message.new", MESSAGE])
        encoded = event.encode()
        send = cls(packet.EVENT, namespace="/", data=["message.send", SEND], id=7).encode()
        out[f"{name}_encode_event_us"] = per_call_us(
            lambda cls=cls: cls(packet.EVENT, namespace="/", data=["message.new", MESSAGE]).encode()
        )
        out[f"{name}_decode_send_us"] = per_call_us(
            lambda cls=cls, send=send: cls(encoded_packet=send)
        )
        out[f"{name}_event_bytes"] = len(encoded)
    return out


def main() -> int:
    print(json.dumps({"bus": bus(), "wire": wire()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
