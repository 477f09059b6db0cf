"""One clock for every socket's engine.io pings, instead of a task per socket and a busy monitor.

Stock python-engineio (4.x) starts a task per socket per ping cycle that sleeps the ping
interval and sends a PING, and a service task that visits every socket once per ping timeout:
with 10,000 sockets it wakes every 2 ms, each time building a task and a timer to sleep. Both
cost CPU and memory in proportion to idle connections.

Here a single task ticks once a `tick_s`: it pings the sockets whose interval has passed (they
wait in a queue in the order they became due, since every socket has the same interval) and
closes those whose last ping went unanswered longer than the ping timeout. The protocol seen
by a client is unchanged (a PING every interval, a CLOSE when it stops answering), give or
take one tick.

Pinned to python-engineio 4.x: `AsyncSocket.schedule_ping` is replaced and the server's own
monitor is not started; both are fingerprinted in tests/test_upstream_contract.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any

from engineio import packet
from engineio.async_socket import AsyncSocket

logger = logging.getLogger("dreamseed.sockets")

_stock_schedule_ping = AsyncSocket.schedule_ping


class PingClock:
    def __init__(self, server: Any, tick_s: float = 1.0) -> None:
        self.server = server  # the engine.io server
        self.tick_s = tick_s
        self._due: deque[tuple[float, Any]] = deque()  # (monotonic time to ping, socket)
        self._waiting: deque[tuple[float, Any]] = deque()  # (wall time pinged, socket)
        self._task: asyncio.Task[None] | None = None
        self._ticks = 0

    def schedule(self, socket: Any) -> None:
        self._due.append((time.monotonic() + self.server.ping_interval, socket))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("ping clock tick failed; going on")

    async def tick(self) -> None:
        now_mono, now = time.monotonic(), time.time()
        due = self._due
        while due and due[0][0] <= now_mono:
            _, socket = due.popleft()
            if socket.closing or socket.closed:
                continue
            socket.last_ping = now
            self._waiting.append((now, socket))
            with contextlib.suppress(Exception):  # a socket closing under us
                await socket.send(packet.Packet(packet.PING))
        timeout = self.server.ping_timeout
        waiting = self._waiting
        while waiting and now - waiting[0][0] > timeout:
            pinged, socket = waiting.popleft()
            if socket.last_ping != pinged or socket.closing or socket.closed:
                continue  # answered (a PONG clears last_ping), or already gone
            logger.info("%s: no answer to a ping, closing", socket.sid)
            await socket.close(wait=False, abort=False, reason=self.server.reason.PING_TIMEOUT)
        self._ticks += 1
        if self._ticks % 60 == 0:
            self._forget_closed()

    def _forget_closed(self) -> None:
        """What the stock monitor also did: drop closed sockets nobody removed."""
        sockets = self.server.sockets
        for sid in [sid for sid, s in sockets.items() if s.closed]:
            sockets.pop(sid, None)


def _schedule_ping(self: Any) -> None:
    clock = getattr(self.server, "ping_clock", None)
    if clock is None:
        _stock_schedule_ping(self)
        return
    # As the stock method: only once the previous ping was answered (or at connect).
    if self.last_ping:
        self.last_ping = None
        clock.schedule(self)


def install() -> None:
    AsyncSocket.schedule_ping = _schedule_ping


def attach(eio_server: Any, tick_s: float = 1.0) -> PingClock:
    """Give an engine.io server the shared clock and keep its own monitor from starting."""
    clock = PingClock(eio_server, tick_s)
    eio_server.ping_clock = clock
    eio_server.start_service_task = False
    return clock
