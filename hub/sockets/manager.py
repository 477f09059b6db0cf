"""The hub's Socket.IO manager: local fan-out plus a Redis bus that routes instead of broadcasting.

python-socketio's Redis manager publishes every emit on one channel, so every hub decodes
every emit: each added hub adds work to all the others. Here (frames and channels in
hub/bus_frames.py):

* An emit to a room is delivered to this process's sockets at once, then published on the
  room's own channel. A hub subscribes to a room's channel while it holds a socket of the
  room (and `linger_s` after its last one left), so Redis hands the emit only to hubs with a
  member. Subscriptions of sockets that
  arrive together go out in one SUBSCRIBE a few milliseconds later (`batch_s`).
* When a publish on a room's channel reached only this hub (PUBLISH counts the receivers),
  the room's next emits are delivered locally with no Redis round trip at all. A hub that
  starts holding rooms publishes one HELLO naming them on the hellos channel every hub
  hears, which ends that for everyone.
* Control messages (make a user's sockets join or leave a room, disconnect a user) go on the
  user's room channel: only the hubs holding that user's sockets hear them.
* Each process sends itself a heartbeat through its own channel. If it stops arriving, the
  listener is deaf (Redis dropped the subscriber, a reconnect failed to resubscribe): the
  process reports not-ready and rebuilds the listener. A heartbeat that cannot be published
  means Redis is unreachable: not-ready at once, and a rebuild as soon as it is back.
  Whenever the listener (re)subscribes after the first time, once it hears its own heartbeat
  every local client is sent `sync.required`: what was acknowledged while this hub could not
  hear the bus reaches them by `sync`.

Known gap: an emit from a hub that delivered a room locally only, made after another hub's
socket joined the room but before that hub's HELLO is read, does not reach the newcomer live.
That is the bus's documented at-most-once: the client catches up by `sync` (it syncs after
connecting, and on a `seq` gap).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import socketio
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hub import bus_frames as frames
from hub import metrics
from hub.bus import user_room
from hub.sockets.fanout import LocalFanout

logger = logging.getLogger("dreamseed.bus")
_SUBSCRIBE_CHUNK = 2000  # channels per SUBSCRIBE command when (re)building the listener


class HubManager(LocalFanout):
    def __init__(self, url: str, channel: str, heartbeat_s: float, deaf_after_s: float) -> None:
        super().__init__()
        self.host_id = uuid.uuid4().hex
        self._origin = frames.origin_of(self.host_id)
        self._url = url
        self.base_channel = channel  # broadcasts (emits to no room or to several)
        self.channel = frames.hub_channel(channel, self.host_id)  # this hub's heartbeat
        self.hellos_channel = frames.hellos_channel(channel)
        self.heartbeat_s = heartbeat_s
        self.deaf_after_s = deaf_after_s
        self.batch_s = 0.002
        self.settle_s = 1.0
        self.last_heartbeat = time.monotonic()
        self.rebuilds = 0
        self.bus_down = False
        self.resync_pending = False
        self.listener_connects = 0
        self.redis: Any = None  # publishes emits and hellos
        self.pubsub: Any = None  # redis-py's PubSub of the listener
        self.thread: asyncio.Task[None] | None = None  # the listener
        self._control_redis: Redis | None = None  # heartbeats and control messages
        self._watchdog: asyncio.Task[None] | None = None
        # Room channels: how many (namespace, room) pairs of this process hold each.
        self._holders: dict[str, int] = {}
        self._to_subscribe: set[str] = set()
        self._to_unsubscribe: set[str] = set()
        self._lingering: dict[str, float] = {}  # emptied room channels, still subscribed
        self.linger_s = 30.0
        self._flush: asyncio.Task[None] | None = None
        self._confirmed: set[str] = set()  # subscriptions Redis has confirmed
        self._alone: set[str] = set()  # room channels only this hub holds: deliver locally
        self._hellos = 0  # HELLOs heard: a publish's receiver count from before one is stale
        # Emits heard from other processes, by channel (what routing saves is countable).
        self.heard: collections.Counter[bytes] = collections.Counter()
        self.published = 0
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

    def initialize(self) -> None:
        if self.redis is None:
            self.redis = Redis.from_url(self._url)
            self._control_redis = Redis.from_url(self._url)
        if self.thread is None:
            self.thread = self.server.start_background_task(self._listen)

    def start_watchdog(self) -> None:
        self._watchdog = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        for task in (self._watchdog, self._flush):
            if task is not None:
                task.cancel()
        await self._close_listener()
        for client in (self.redis, self._control_redis):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def _close_listener(self) -> None:
        listener, pubsub = self.thread, self.pubsub
        self.thread, self.pubsub = None, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(BaseException):
                await listener
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    # -- emits ----------------------------------------------------------------------------
    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        ignore_queue: bool = False,
        **kwargs: Any,
    ) -> None:
        room = to or room
        await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback)
        if ignore_queue or callback is not None:
            return
        if isinstance(room, str):
            if room in self.rooms.get(namespace, {}).get(None, ()):
                return  # a socket of this process: delivered
            channel = frames.room_channel(self.base_channel, room)
            if channel in self._alone:
                return  # every member is here: delivered, no round trip
        else:
            channel = self.base_channel
        args = list(data) if isinstance(data, tuple) else ([] if data is None else [data])
        frame = frames.encode_emit(
            self._origin, frames.Emit(namespace, room, event, args, skip_sid)
        )
        hellos = self._hellos
        receivers = await self._publish(channel, frame)
        if receivers == 1 and channel in self._confirmed and hellos == self._hellos:
            self._alone.add(channel)

    async def _publish(self, channel: str, frame: bytes) -> int | None:
        """Publish to the other hubs; on failure retry once on the same client (which
        reconnects by itself), then give up: the bus is at-most-once, clients resync."""
        self.published += 1
        for retries_left in (1, 0):
            try:
                receivers: int = await self.redis.publish(channel, frame)
                return receivers
            except Exception as exc:
                logger.error(
                    "cannot publish to the bus (%s)%s",
                    exc,
                    "; retrying" if retries_left else "; giving up",
                )
        return None

    # -- subscriptions follow the rooms this process holds ---------------------------------
    def room_opened(self, room: str) -> None:
        channel = frames.room_channel(self.base_channel, room)
        held = self._holders.get(channel, 0)
        self._holders[channel] = held + 1
        if held == 0 and self._lingering.pop(channel, None) is None:
            # Also when an unsubscribe is pending: a fresh SUBSCRIBE and HELLO are harmless.
            self._to_unsubscribe.discard(channel)
            self._to_subscribe.add(channel)
            self._schedule_flush()

    def room_closed(self, room: str) -> None:
        channel = frames.room_channel(self.base_channel, room)
        held = self._holders.get(channel, 0) - 1
        if held > 0:
            self._holders[channel] = held
            return
        self._holders.pop(channel, None)
        self._alone.discard(channel)
        if channel in self._to_subscribe:
            self._to_subscribe.discard(channel)
        else:
            # Stay subscribed for `linger_s`: a mass disconnect costs Redis nothing, and the
            # same sockets coming back (a hub restart, a network blip) need no SUBSCRIBE.
            self._lingering[channel] = time.monotonic()

    def _sweep_lingering(self) -> None:
        """Unsubscribe from rooms that stayed empty for `linger_s`."""
        now = time.monotonic()
        expired = [c for c, since in self._lingering.items() if now - since >= self.linger_s]
        for channel in expired:
            del self._lingering[channel]
            self._confirmed.discard(channel)
            self._to_unsubscribe.add(channel)
        if expired:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush is None or self._flush.done():
            with contextlib.suppress(RuntimeError):  # no running loop: the listener's start
                self._flush = asyncio.get_running_loop().create_task(self._flush_later())

    async def rooms_settled(self) -> None:
        """Wait until the subscriptions for rooms entered so far have been sent to Redis."""
        flush = self._flush
        if flush is not None and not flush.done():
            # Bounded: with Redis unreachable a connection must not hang on the bus (the
            # rebuilt listener subscribes to every held room, and the client syncs).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(flush), self.settle_s)

    async def _flush_later(self) -> None:
        # Until nothing is pending: rooms opened while a batch is on its way go in the next
        # batch of this same task, which is what `rooms_settled` waits on.
        while self._to_subscribe or self._to_unsubscribe:
            await asyncio.sleep(self.batch_s)  # sockets connecting together share a SUBSCRIBE
            pubsub = self.pubsub
            if pubsub is None:
                return  # the listener flushes what is pending once its subscriptions are in
            subscribe, self._to_subscribe = self._to_subscribe, set()
            unsubscribe, self._to_unsubscribe = self._to_unsubscribe, set()
            try:
                if unsubscribe:
                    await pubsub.unsubscribe(*unsubscribe)
                if subscribe:
                    await pubsub.subscribe(*subscribe)
                    await self._say_hello(subscribe)
            except Exception as exc:
                # The watchdog finds the listener deaf or Redis down, and the rebuilt
                # listener subscribes to every room held then.
                logger.warning("cannot update bus subscriptions (%s)", exc)
                return

    async def _say_hello(self, channels: set[str]) -> None:
        listed = sorted(channels)
        for start in range(0, len(listed), _SUBSCRIBE_CHUNK):
            chunk = listed[start : start + _SUBSCRIBE_CHUNK]
            await self.redis.publish(self.hellos_channel, frames.encode_hello(self._origin, chunk))

    # -- listening ------------------------------------------------------------------------
    async def _listen(self) -> None:
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("bus listener lost Redis (%s); reconnecting", exc)
                await asyncio.sleep(1)

    async def _listen_once(self) -> None:
        pubsub = self.redis.pubsub()
        self.pubsub = None  # until its subscriptions are in, room changes wait in the sets
        self._confirmed.clear()
        self._alone.clear()  # hellos may have been missed meanwhile
        self._to_subscribe.clear()
        self._to_unsubscribe.clear()
        self._lingering.clear()  # the new connection subscribes to held rooms only
        held = [self.channel, self.base_channel, self.hellos_channel, *self._holders]
        self.listener_connects += 1
        if self.listener_connects > 1:
            # What was published while we were not subscribed never reached this hub.
            self.resync_pending = True
        try:
            for start in range(0, len(held), _SUBSCRIBE_CHUNK):
                await pubsub.subscribe(*held[start : start + _SUBSCRIBE_CHUNK])
            self.pubsub = pubsub
            if self._flush is not None and not self._flush.done():
                self._flush.cancel()  # may be stuck on the old listener's connection
            if self._to_subscribe or self._to_unsubscribe:
                self._schedule_flush()
            await self._say_hello(set(held[3:]))
            async for message in pubsub.listen():
                kind = message["type"]
                if kind == "message":
                    await self._on_frame(message["channel"], message["data"])
                elif kind == "subscribe":
                    self._confirmed.add(message["channel"].decode())
        finally:
            if self.pubsub is pubsub:
                self.pubsub = None
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _on_frame(self, channel: bytes, frame: bytes) -> None:
        kind = frames.kind_of(frame)
        mine = frame[: frames.ORIGIN_BYTES] == self._origin
        if kind is frames.Kind.HEARTBEAT:
            if mine:
                self.last_heartbeat = time.monotonic()
                if self.resync_pending:
                    await self._tell_clients_to_sync()
            return
        if mine or kind is None:  # our own were delivered (or applied) when sent
            return
        if kind is frames.Kind.EMIT:
            self.heard[channel] += 1
            emit = frames.decode_emit(frame)
            await LocalFanout.emit(
                self,
                emit.event,
                tuple(emit.args),
                emit.namespace,
                room=emit.room,
                skip_sid=emit.skip_sid,
            )
        elif kind is frames.Kind.HELLO:
            self._hellos += 1
            try:
                named = frames.decode_hello(frame)
            except (ValueError, TypeError):
                logger.warning("malformed HELLO dropped")
                return
            # The older form is a bodiless HELLO on the room's own channel.
            for room_channel in named or [channel.decode()]:
                self._alone.discard(room_channel)
        elif kind is frames.Kind.CONTROL:
            try:
                control = frames.decode_control(frame)
            except (ValueError, TypeError):
                logger.warning("malformed control message dropped")
                return
            await self._apply(control)

    # -- health watchdog ------------------------------------------------------------------
    async def _watch(self) -> None:
        while True:
            try:
                await self._beat()
                self._sweep_lingering()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("bus watchdog failed; retrying")
            await asyncio.sleep(self.heartbeat_s)

    async def _beat(self) -> None:
        try:
            assert self._control_redis is not None, "start() opens it"  # noqa: S101
            await self._control_redis.publish(
                self.channel, frames.encode_signal(self._origin, frames.Kind.HEARTBEAT)
            )
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if not self.bus_down:
                logger.warning("bus unreachable (%s): not ready until it is back", exc)
            self.bus_down = True
            self._alone.clear()  # hellos cannot reach us now
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
        self.thread = self.server.start_background_task(self._listen)
        self.last_heartbeat = time.monotonic()  # give the new listener a full window

    # -- control messages -----------------------------------------------------------------
    async def publish_control(self, control: frames.Control) -> None:
        if self._control_redis is None:
            self._control_redis = Redis.from_url(self._url)
        channel = frames.room_channel(self.base_channel, user_room(control.user))
        await self._control_redis.publish(channel, frames.encode_control(self._origin, control))

    async def join_user(self, user_id: str, room: str) -> None:
        await self._send_control(frames.Control("join", user_id, room=room))

    async def leave_user(self, user_id: str, room: str) -> None:
        await self._send_control(frames.Control("leave", user_id, room=room))

    async def disconnect_user(self, user_id: str, reason: str, session_id: str | None) -> None:
        await self._send_control(
            frames.Control("disconnect", user_id, reason=reason, session=session_id)
        )

    async def _send_control(self, control: frames.Control) -> None:
        await self._apply(control)
        await self.publish_control(control)

    async def _apply(self, control: frames.Control) -> None:
        """Act on this process's sockets of the user named in a control message."""
        room = user_room(control.user)
        if control.type == "disconnect":
            # Every namespace: an exam client must not outlive a logout either.
            for namespace in (*self.rooms,):
                await self._disconnect(namespace, room, control)
            return
        for sid, _ in list(self.get_participants("/", room)):
            if control.type == "join":
                self.basic_enter_room(sid, "/", control.room)
            elif control.type == "leave":
                self.basic_leave_room(sid, "/", control.room)

    async def _disconnect(self, namespace: str, room: str, control: frames.Control) -> None:
        for sid, _ in list(self.get_participants(namespace, room)):
            if control.session is not None and self.session_of(sid) != control.session:
                continue
            await self.server.emit(
                "session.closed", {"reason": control.reason}, to=sid, namespace=namespace
            )
            await self.server.disconnect(sid, namespace=namespace, ignore_queue=True)
