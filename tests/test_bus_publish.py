"""A publish that fails once must not cost the hub its listener (issue 13, section 5).

python-socketio's publish retry marked the manager disconnected and called `_redis_connect`,
which gave the listener a fresh pub/sub and closed the one it was reading. Our manager
(hub/sockets/manager.py) publishes on its own client; this keeps it from regressing.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from hub import bus_frames as frames
from hub.bus import user_room
from tests.sockets import Client
from tests.support import Factory, User


async def test_a_failed_publish_does_not_drop_later_events(
    hub_server: tuple[str, Any],
    redis: Redis,
    factory: Factory,
    connect: Callable[[User], Awaitable[Client]],
) -> None:
    """After one emit whose publish fails (its Redis connection refused: the publisher is
    pointed at a closed port for that one call), the next event still reaches the user's
    socket through the same listener."""
    user = await factory.user()
    client = await connect(user)
    manager = hub_server[1].other_asgi_app.state.bus_manager
    listener, publisher = manager.pubsub, manager.redis
    refused = Redis(host="127.0.0.1", port=_closed_port(), retry=Retry(NoBackoff(), 0))
    manager.redis = refused
    try:
        await manager.emit("nobody.listens", {}, namespace="/", room="no-such-room")
    finally:
        manager.redis = publisher
        await refused.aclose()
    # As another hub would: its emits reach this one only through the listener.
    from_another_hub = frames.encode_emit(
        frames.origin_of(uuid.uuid4().hex),
        frames.Emit("/", user_room(user.id), "parent_link.requested", [{"id": "after"}]),
    )
    channel = frames.room_channel(manager.base_channel, user_room(user.id))
    await redis.publish(channel, from_another_hub)
    assert (await client.next("parent_link.requested")) == {"id": "after"}
    assert manager.pubsub is listener


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: connecting to it is refused
