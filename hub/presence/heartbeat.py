"""This process's liveness key, written by a thread of its own.

Any hub sweeps a host whose key lapsed as dead and tells its users' contacts they went
offline. The key used to be written by the presence loop on the event loop, so a hub that was
only busy (two hubs on one core at 1,000 msg/s, loadtest/README.md) missed its refresh and
was swept while all its users were connected. A thread gets the interpreter every few
milliseconds however many tasks wait on the loop, so a busy hub keeps its key.

A wedged loop must not be kept alive by the thread: each beat also asks the loop to note that
it still runs (a callback, handled within one loop iteration however long that is), and the
thread stops beating once the loop has not answered for `stall_limit_s`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from redis import Redis
from redis.exceptions import RedisError

logger = logging.getLogger("dreamseed.presence")


class Heartbeat:
    def __init__(
        self,
        redis_url: str,
        alive_key: str,
        hosts_key: str,
        host_id: str,
        lease_s: float,
        stall_limit_s: float = 60,
    ) -> None:
        self._redis_url = redis_url
        self._alive_key = alive_key
        self._hosts_key = hosts_key
        self._host_id = host_id
        self._lease_ms = int(lease_s * 1000)
        self._every_s = lease_s / 4
        self._stall_limit_s = max(stall_limit_s, lease_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.loop_seen = time.monotonic()
        self.beats = 0

    def start(self) -> None:
        """Start beating; call from the event loop that serves this process."""
        self._loop = asyncio.get_running_loop()
        self.loop_seen = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="presence-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _seen(self) -> None:
        self.loop_seen = time.monotonic()

    def _run(self) -> None:
        client = Redis.from_url(
            self._redis_url, socket_timeout=self._every_s, socket_connect_timeout=self._every_s
        )
        warned = 0.0
        try:
            while not self._stop.is_set():
                assert self._loop is not None  # noqa: S101 - set by start()
                try:
                    self._loop.call_soon_threadsafe(self._seen)
                except RuntimeError:
                    return  # the loop is closed: the process is stopping
                if time.monotonic() - self.loop_seen <= self._stall_limit_s:
                    try:
                        with client.pipeline(transaction=False) as pipe:
                            pipe.set(self._alive_key, int(time.time() * 1000), px=self._lease_ms)
                            pipe.sadd(self._hosts_key, self._host_id)
                            pipe.execute()
                        self.beats += 1
                    except RedisError as exc:
                        if time.monotonic() - warned > 5:  # one line per outage, not per beat
                            warned = time.monotonic()
                            logger.warning("presence heartbeat not written: %s", exc)
                self._stop.wait(self._every_s)
        finally:
            client.close()
