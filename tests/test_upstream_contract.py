"""The upstream code our modules override, copy or reach into, fingerprinted.

hub/sockets/ and hub/notify/push.py depend on private parts of python-socketio,
python-engineio and firebase-admin (pyproject.toml pins their series). When an upgrade changes
any of them, this test fails and names the file of ours to re-review against the new upstream
source; after the review, update the fingerprint here (`python -m tests.test_upstream_contract`
prints the current ones).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from pathlib import Path

import pytest

# (upstream object, our file that overrides, copies or relies on it, sha256 of its source [:16])
FENCED: list[tuple[str, str, str]] = [
    ("socketio.async_manager:AsyncManager.emit", "hub/sockets/fanout.py", "726120933539c985"),
    (
        "socketio.async_manager:AsyncManager.pre_connect",
        "hub/sockets/fanout.py",
        "4bbdfdc2e311f956",
    ),
    (
        "socketio.base_manager:BaseManager.pre_disconnect",
        "hub/sockets/fanout.py",
        "f9b233afdfcdaf18",
    ),
    (
        "socketio.base_manager:BaseManager.basic_disconnect",
        "hub/sockets/fanout.py",
        "9f87e7efa609a6d8",
    ),
    (
        "socketio.base_manager:BaseManager.basic_enter_room",
        "hub/sockets/fanout.py",
        "fa8da34ee5ac5a9f",
    ),
    (
        "socketio.base_manager:BaseManager.basic_leave_room",
        "hub/sockets/fanout.py",
        "b46dc3ede458d842",
    ),
    ("socketio.base_manager:BaseManager.get_rooms", "hub/sockets/fanout.py", "89e5eb41db521e4b"),
    # hub/sockets/manager.py: rooms[namespace][room] is a bidict sid -> eio_sid, and
    # rooms[namespace][None] holds every local socket (is a room a local sid?).
    (
        "socketio.base_manager:BaseManager.get_participants",
        "hub/sockets/manager.py",
        "776a87f004d59458",
    ),
    (
        "socketio.base_manager:BaseManager.is_pre_connected",
        "hub/sockets/fanout.py",
        "5ee7a0c96f41cfcd",
    ),
    ("socketio.base_manager:BaseManager.is_connected", "hub/sockets/fanout.py", "2b6319867340cf77"),
    (
        "socketio.async_server:AsyncServer._send_eio_packet",
        "hub/sockets/fanout.py",
        "7b3ab8d9d30c785d",
    ),
    ("engineio.async_socket:AsyncSocket.send", "hub/sockets/fanout.py", "570def1d9f157f01"),
    ("engineio.async_socket:AsyncSocket.poll", "hub/sockets/engine_tuning.py", "49d219402ac7d557"),
    # hub/sockets/direct_socket.py: websockets written from the sender, frames shared by a room.
    ("engineio.async_socket:AsyncSocket.close", "hub/sockets/direct_socket.py", "a389c32d61d16153"),
    (
        "engineio.async_server:AsyncServer._handle_connect",
        "hub/sockets/direct_socket.py",
        "a3bc4bce3c42e29a",
    ),
    (
        "engineio.base_socket:BaseSocket.__init__",
        "hub/sockets/direct_socket.py",
        "c515a4a579e7a5ff",
    ),
    ("engineio.async_drivers.asgi:WebSocket", "hub/sockets/direct_socket.py", "cc6bccf94ab54912"),
    (
        "uvicorn.protocols.websockets.websockets_sansio_impl:WebSocketsSansIOProtocol.send",
        "hub/sockets/direct_socket.py",
        "a6b48109cf7204ae",
    ),
    (
        "uvicorn.protocols.websockets.websockets_sansio_impl:WebSocketsSansIOProtocol.pause_writing",
        "hub/sockets/direct_socket.py",
        "9709b4573545358f",
    ),
    (
        "uvicorn.protocols.websockets.websockets_sansio_impl:WebSocketsSansIOProtocol.connection_lost",
        "hub/sockets/direct_socket.py",
        "34bad428f5ec3cc4",
    ),
    # hub/sockets/pings.py: one clock pings every socket; the stock monitor is not started.
    (
        "engineio.async_socket:AsyncSocket.schedule_ping",
        "hub/sockets/pings.py",
        "ad28edec571600f6",
    ),
    ("engineio.async_socket:AsyncSocket._send_ping", "hub/sockets/pings.py", "52fd7d95a0fa617b"),
    (
        "engineio.async_server:AsyncServer._service_task",
        "hub/sockets/pings.py",
        "87e2e4faa3c7020d",
    ),
    # hub/sockets/guards.py: malformed frames and packets close the connection (issue 13).
    ("engineio.packet:Packet.decode", "hub/sockets/guards.py", "030aa5a6e2be73b6"),
    ("engineio.async_socket:AsyncSocket.receive", "hub/sockets/guards.py", "9e53f5cf1eae4e49"),
    (
        "engineio.async_socket:AsyncSocket._websocket_handler",
        "hub/sockets/guards.py",
        "dfa7a417e0e9828e",
    ),
    ("socketio.packet:Packet.decode", "hub/sockets/guards.py", "81a70463f017cd00"),
    (
        "socketio.async_server:AsyncServer._handle_eio_message",
        "hub/sockets/guards.py",
        "723927bfa045c8b1",
    ),
    # hub/jwt_patches.py: the same segment check, with a regular expression.
    ("jwt.api_jws:PyJWS._decode_base64url_segment", "hub/jwt_patches.py", "64b31545cbe0d633"),
    ("jwt.algorithms:HMACAlgorithm.prepare_key", "hub/jwt_patches.py", "6576e3aba0df3170"),
    ("firebase_admin.messaging:_get_messaging_service", "hub/notify/push.py", "32351f00ad25cac5"),
    (
        "firebase_admin.messaging:_MessagingService.__init__",
        "hub/notify/push.py",
        "acb66538bb8fff87",
    ),
    (
        "firebase_admin.messaging:_MessagingService.send_each_async",
        "hub/notify/push.py",
        "88bd69af74219ffd",
    ),
]


def upstream_source(name: str) -> str:
    """The source of `module:Class.function` as the installed file has it: read from disk,
    so a function we patch in at run time (engine_tuning's `AsyncSocket.poll`) is still
    fingerprinted as upstream wrote it."""
    module_name, _, path = name.partition(":")
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        raise ImportError(f"no module {module_name}")
    text = Path(spec.origin).read_text()
    body: list[ast.stmt] = ast.parse(text).body
    node: ast.AST | None = None
    for part in path.split("."):
        node = next(
            (
                n
                for n in body
                if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and n.name == part
            ),
            None,
        )
        if node is None:
            raise AttributeError(f"{module_name} has no {path}")
        body = getattr(node, "body", [])
    segment = ast.get_source_segment(text, node) if node is not None else None
    if segment is None:
        raise AttributeError(f"{module_name} has no {path}")
    return segment


def fingerprint(name: str) -> str:
    return hashlib.sha256(upstream_source(name).encode()).hexdigest()[:16]


def review_needed(upstream: str, ours: str, expected: str) -> str | None:
    """Why `ours` must be re-reviewed, or None when the upstream source is the reviewed one."""
    try:
        actual = fingerprint(upstream)
    except (ImportError, AttributeError) as exc:
        return f"{upstream} is gone ({exc}): re-review {ours} against the new release"
    if actual == expected:
        return None
    return (
        f"{upstream} changed upstream (fingerprint {actual}, reviewed {expected}): "
        f"re-review {ours} against the new source, then update FENCED in "
        "tests/test_upstream_contract.py"
    )


@pytest.mark.parametrize(("upstream", "ours", "expected"), FENCED, ids=[f[0] for f in FENCED])
def test_fenced_upstream_code_is_unchanged(upstream: str, ours: str, expected: str) -> None:
    """Each upstream function we override, copy or reach into has the source we reviewed."""
    reason = review_needed(upstream, ours, expected)
    assert reason is None, reason


def test_a_change_names_the_file_to_review() -> None:
    """A fingerprint that differs, or an upstream name that is gone, names our file."""
    upstream, ours, _ = FENCED[0]
    changed = review_needed(upstream, ours, "0" * 16)
    assert changed is not None and ours in changed and "changed upstream" in changed
    gone = review_needed("socketio.async_manager:AsyncManager.no_such_method", ours, "0" * 16)
    assert gone is not None and ours in gone and "is gone" in gone


if __name__ == "__main__":
    for upstream, ours, _ in FENCED:
        print(f"{fingerprint(upstream)}  {upstream}  ({ours})")
