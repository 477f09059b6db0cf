"""The upstream code our modules override, copy or reach into, fingerprinted.

hub/sockets/ and hub/notify/push.py depend on private parts of python-socketio,
python-engineio and firebase-admin (pyproject.toml pins their series). When an upgrade changes
any of them, this test fails and names the file of ours to re-review against the new upstream
source; after the review, update the fingerprint here (`python -m tests.test_upstream_contract`
prints the current ones).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from typing import Any

import pytest

# (upstream object, our file that overrides, copies or relies on it, sha256 of its source [:16])
FENCED: list[tuple[str, str, str]] = [
    (
        "socketio.async_redis_manager:AsyncRedisManager._redis_connect",
        "hub/sockets/manager.py",
        "da4530c936323c25",
    ),
    (
        "socketio.async_redis_manager:AsyncRedisManager._publish",
        "hub/sockets/manager.py",
        "033e4da7cc8768b4",
    ),
    (
        "socketio.async_redis_manager:AsyncRedisManager._redis_listen_with_retries",
        "hub/sockets/manager.py",
        "ad347f253fd3423a",
    ),
    (
        "socketio.async_redis_manager:AsyncRedisManager._listen",
        "hub/sockets/manager.py",
        "3e74fdd1084b4e13",
    ),
    (
        "socketio.async_pubsub_manager:AsyncPubSubManager._thread",
        "hub/sockets/manager.py",
        "fa8d075729aac64d",
    ),
    (
        "socketio.async_pubsub_manager:AsyncPubSubManager.emit",
        "hub/sockets/fanout.py",
        "6cc46e0ff9b6d7cf",
    ),
    (
        "socketio.async_pubsub_manager:AsyncPubSubManager._handle_emit",
        "hub/sockets/fanout.py",
        "4284671be955f644",
    ),
    ("socketio.async_manager:AsyncManager.emit", "hub/sockets/fanout.py", "01ccd5b82b4f955e"),
    (
        "socketio.async_manager:AsyncManager.pre_connect",
        "hub/sockets/fanout.py",
        "84f2cdf2a4ddf07c",
    ),
    (
        "socketio.base_manager:BaseManager.pre_disconnect",
        "hub/sockets/fanout.py",
        "18a8d01ed87a9682",
    ),
    (
        "socketio.base_manager:BaseManager.basic_disconnect",
        "hub/sockets/fanout.py",
        "2933b50bc4b2ea7b",
    ),
    (
        "socketio.base_manager:BaseManager.basic_enter_room",
        "hub/sockets/fanout.py",
        "3f509586d2d7f47e",
    ),
    (
        "socketio.base_manager:BaseManager.basic_leave_room",
        "hub/sockets/fanout.py",
        "e27f3eea06d1c6a6",
    ),
    ("socketio.base_manager:BaseManager.get_rooms", "hub/sockets/fanout.py", "56a1017f85af9f91"),
    (
        "socketio.base_manager:BaseManager.is_pre_connected",
        "hub/sockets/fanout.py",
        "40a897c4ab2ccc5d",
    ),
    ("socketio.base_manager:BaseManager.is_connected", "hub/sockets/fanout.py", "d37721466718b4f4"),
    (
        "socketio.async_server:AsyncServer._send_eio_packet",
        "hub/sockets/fanout.py",
        "64cf72a2ab7d75b1",
    ),
    ("engineio.async_socket:AsyncSocket.send", "hub/sockets/fanout.py", "0437276ccba7ab09"),
    ("engineio.async_socket:AsyncSocket.poll", "hub/sockets/engine_tuning.py", "826f58a9f3606db2"),
    ("firebase_admin.messaging:_get_messaging_service", "hub/notify/push.py", "a4d846d9e757b8f8"),
    (
        "firebase_admin.messaging:_MessagingService.__init__",
        "hub/notify/push.py",
        "43c0e5dd1cd6ea69",
    ),
    (
        "firebase_admin.messaging:_MessagingService.send_each_async",
        "hub/notify/push.py",
        "988dd0eeed2c6d6e",
    ),
]


def _resolve(name: str) -> Any:
    module_name, _, path = name.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in path.split("."):
        target = getattr(target, part)
    return target


def fingerprint(name: str) -> str:
    source = inspect.getsource(_resolve(name))
    return hashlib.sha256(source.encode()).hexdigest()[:16]


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
