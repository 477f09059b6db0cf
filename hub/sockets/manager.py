"""python-socketio's Redis manager, plus what a hub needs from the bus beside emits.

* Control messages (make a user's sockets join or leave a room, disconnect a user) travel on
  the same channel as emits, so each process applies them in the order they were sent.
* Each process sends itself a heartbeat through the channel. If it stops arriving, the
  listener is deaf (Redis dropped the subscriber, a reconnect failed to resubscribe): the
  process reports not-ready and rebuilds the listener.
* A heartbeat that cannot be published means Redis is unreachable: not-ready at once. The
  first heartbeat published after that rebuilds the listener without waiting to go deaf.
  Whenever the listener resubscribes (after a rebuild, or its own reconnect after a short
  outage), once it hears its own heartbeat every local client is sent `sync.required`: what
  was acknowledged while this hub could not hear the bus reaches them by `sync`.

Pinned to the python-socketio 5.x internals it extends: `_listen`, `_redis_connect`,
`_publish`, `thread` (fingerprinted by tests/test_upstream_contract.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import socketio
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hub import metrics
from hub.bus import user_room
from hub.redis_bus import CONTROL_PREFIX
from hub.sockets.fanout import LocalFanout

logger = logging.getLogger("dreamseed.bus")


class HubManager(socketio.AsyncRedisManager, LocalFanout):  # type: ignore[misc]
    # Set by python-socketio's AsyncRedisManager; declared for the type checker.
    redis: Any
    pubsub: Any
    thread: Any

    def __init__(self, url: str, channel: str, heartbeat_s: float, deaf_after_s: float) -> None:
        super().__init__(url, channel=channel)
        self._url = url
        self.heartbeat_s = heartbeat_s
        self.deaf_after_s = deaf_after_s
        self.last_heartbeat = time.monotonic()
        self.rebuilds = 0
        self.bus_down = False
        self.resync_pending = False
        self.listener_connects = 0
        self._control_redis: Redis | None = None
        self._watchdog: asyncio.Task[None] | None = None
        # Set by the namespace: which session a local socket belongs to.
        self.session_of: Callable[[str], str | None] = lambda sid: None

    # -- health ---------------------------------------------------------------------------
    @property
    def listening(self) -> bool:
        return not self.bus_down and time.monotonic() - self.last_heartbeat < self.deaf_after_s

    def start(self, sio: socketio.AsyncServer) -> None:
        """Listen from start-up (python-socketio waits for the first connection)."""
        if not sio.manager_initialized:
            sio.manager_initialized = True
            self.initialize()
        self.last_heartbeat = time.monotonic()
        self.start_watchdog()

    def start_watchdog(self) -> None:
        self._watchdog = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        await self._close_listener(also_publisher=True)
        if self._control_redis is not None:
            await self._control_redis.aclose()

    async def _close_listener(self, *, also_publisher: bool = False) -> None:
        listener: asyncio.Task[None] | None = getattr(self, "thread", None)
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(BaseException):
                await listener
        for resource in (self.pubsub, self.redis if also_publisher else None):
            if resource is not None:
                with contextlib.suppress(Exception):
                    await resource.aclose()

    def _redis_connect(self) -> None:
        """Keep one client for publishing; give the listener a fresh pub/sub connection.

        The stock version replaces the shared client on every listener (re)connect, leaving
        the old pool's connections open until garbage collection.
        """
        # Called by the listener only (our `_publish` never does): any call after the first
        # is a resubscription, and what was published meanwhile never reached this hub.
        self.listener_connects += 1
        if self.listener_connects > 1:
            self.resync_pending = True
        if self.redis is None:
            super()._redis_connect()
            return
        old = self.pubsub
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.connected = True
        if old is not None:
            asyncio.get_running_loop().create_task(old.aclose())

    async def _publish(self, data: Any) -> Any:
        """Publish to the other hubs; on failure retry once on the same client.

        Replaces the stock retry, which marks the manager disconnected and calls
        `_redis_connect`: here that would swap the listener's pub/sub under it, and the
        listener would miss the other hubs' events until it resubscribed (about a second;
        tests/test_bus_publish.py). The publishing client reconnects by itself.
        """
        if self.redis is None:
            self._redis_connect()
        payload = self.json.dumps(data)
        for retries_left in (1, 0):
            try:
                return await self.redis.publish(self.channel, payload)
            except Exception as exc:
                logger.error(
                    "cannot publish to the bus (%s)%s",
                    exc,
                    "; retrying" if retries_left else "; giving up",
                )
        return None

    async def _watch(self) -> None:
        while True:
            try:
                await self._beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("bus watchdog failed; retrying")
            await asyncio.sleep(self.heartbeat_s)

    async def _beat(self) -> None:
        try:
            await self.publish_control({"type": "heartbeat", "host": self.host_id})
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if not self.bus_down:
                logger.warning("bus unreachable (%s): not ready until it is back", exc)
            self.bus_down = True
            return
        if self.bus_down:  # Redis is back: the old listener may be deaf, rebuild it now
            self.bus_down = False
            self.resync_pending = True
            await self._rebuild_listener()
        elif not self.listening:
            await self._rebuild_listener()

    async def _tell_clients_to_sync(self) -> None:
        """The rebuilt listener hears the bus again: local clients fetch what they missed."""
        self.resync_pending = False
        logger.warning("bus listener rebuilt: telling local clients to sync")
        await self.server.emit(
            "sync.required", {"reason": "bus_restored"}, namespace="/", ignore_queue=True
        )

    async def _rebuild_listener(self) -> None:
        logger.error(
            "no heartbeat through the bus for %.1f s: rebuilding the listener",
            time.monotonic() - self.last_heartbeat,
        )
        metrics.BUS_REBUILDS.inc()
        self.rebuilds += 1
        await self._close_listener()
        self.thread = self.server.start_background_task(self._thread)
        self.last_heartbeat = time.monotonic()  # give the new listener a full window

    # -- control messages -----------------------------------------------------------------
    async def publish_control(self, payload: dict[str, Any]) -> None:
        if self._control_redis is None:
            self._control_redis = Redis.from_url(self._url)
        await self._control_redis.publish(
            self.channel, CONTROL_PREFIX + json.dumps({**payload, "origin": self.host_id}).encode()
        )

    async def join_user(self, user_id: str, room: str) -> None:
        await self._apply({"type": "join", "user": user_id, "room": room})
        await self.publish_control({"type": "join", "user": user_id, "room": room})

    async def leave_user(self, user_id: str, room: str) -> None:
        await self._apply({"type": "leave", "user": user_id, "room": room})
        await self.publish_control({"type": "leave", "user": user_id, "room": room})

    async def disconnect_user(self, user_id: str, reason: str, session_id: str | None) -> None:
        payload = {"type": "disconnect", "user": user_id, "reason": reason, "session": session_id}
        await self._apply(payload)
        await self.publish_control(payload)

    async def _listen(self) -> AsyncIterator[Any]:
        async for message in super()._listen():
            if isinstance(message, bytes) and message.startswith(CONTROL_PREFIX):
                await self._on_control(message[len(CONTROL_PREFIX) :])
                continue
            yield message

    async def _on_control(self, raw: bytes) -> None:
        try:
            payload = json.loads(raw)
        except ValueError:
            logger.warning("malformed control message dropped")
            return
        if payload.get("type") == "heartbeat":
            if payload.get("host") == self.host_id:
                self.last_heartbeat = time.monotonic()
                if self.resync_pending:
                    await self._tell_clients_to_sync()
            return
        if payload.get("origin") != self.host_id:  # our own were applied when sent
            await self._apply(payload)

    async def _apply(self, payload: dict[str, Any]) -> None:
        """Act on this process's sockets of the user named in a control message."""
        room = user_room(payload["user"])
        if payload["type"] == "disconnect":
            # Every namespace: an exam client must not outlive a logout either.
            for namespace in (*self.rooms,):
                await self._disconnect(namespace, room, payload)
            return
        for sid, _ in list(self.get_participants("/", room)):
            if payload["type"] == "join":
                self.basic_enter_room(sid, "/", payload["room"])
            elif payload["type"] == "leave":
                self.basic_leave_room(sid, "/", payload["room"])

    async def _disconnect(self, namespace: str, room: str, payload: dict[str, Any]) -> None:
        session = payload.get("session")
        for sid, _ in list(self.get_participants(namespace, room)):
            if session is not None and self.session_of(sid) != session:
                continue
            await self.server.emit(
                "session.closed", {"reason": payload["reason"]}, to=sid, namespace=namespace
            )
            await self.server.disconnect(sid, namespace=namespace, ignore_queue=True)
