"""Changes to python-engineio's per-socket machinery, measured in PERF_NOTES.md.

Connections that open as websockets write directly and share one ping clock
(hub/sockets/direct_socket.py, hub/sockets/pings.py). For a connection upgraded from
long-polling, which keeps engine.io's writer task:

Each socket's writer waits for its next packet with `asyncio.wait_for(queue.get(), timeout)`:
on CPython 3.11 that builds a Task, a timer and a future for every wake-up, the largest
per-delivery cost of the stock server. For a websocket the timeout is redundant: a dead
client is found by engine.io's ping check and by the reader's own timeout, and either one
puts `None` in the queue, which ends the writer. So upgraded sockets wait on the queue
directly. Long-polling keeps the stock path (its timeout ends each poll).

Pinned to python-engineio 4.x: on any other major version the stock method is left alone.
"""

from __future__ import annotations

import asyncio
import logging
from importlib.metadata import version
from typing import Any

from engineio import exceptions
from engineio.async_socket import AsyncSocket

from hub.sockets import direct_socket, pings

logger = logging.getLogger("dreamseed.sockets")
_installed = False


async def _poll(self: Any) -> list[Any]:
    if not self.upgraded:
        return await _stock_poll(self)  # type: ignore[no-any-return]
    try:
        first = await self.queue.get()
        self.queue.task_done()
    except asyncio.CancelledError:
        raise exceptions.QueueEmpty() from None
    if first is None:
        return []
    packets = [first]
    while True:
        try:
            pkt = self.queue.get_nowait()
        except asyncio.QueueEmpty:
            break
        self.queue.task_done()
        if pkt is None:
            self.queue.put_nowait(None)
            break
        packets.append(pkt)
    return packets


_stock_poll = AsyncSocket.poll


def install() -> None:
    """The writer change below, the direct websockets and the shared ping clock."""
    global _installed
    if _installed:
        return
    if not version("python-engineio").startswith("4."):
        logger.warning(
            "python-engineio %s is not the 4.x this tuning was measured on; "
            "leaving its writer as it is",
            version("python-engineio"),
        )
        return
    AsyncSocket.poll = _poll
    direct_socket.install()
    pings.install()
    _installed = True
