"""At most N requests at a time to one model server, the others waiting in line, each told
its place whenever it changes (so the student sees `tutor.queued` instead of silence).

The limit holds per worker process: run as many tutor workers as you like, with the limit
set to the server's share (a vLLM server's own `--max-num-seqs` is the real ceiling).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

Told = Callable[[int], Awaitable[None]]


class Gate:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self._line: deque[tuple[asyncio.Future[None], Told]] = deque()
        self._notices: set[asyncio.Task[None]] = set()

    @property
    def waiting(self) -> int:
        return len(self._line)

    @asynccontextmanager
    async def slot(self, tell: Told) -> AsyncIterator[None]:
        """Hold one of the server's slots; `tell(position)` (1 = next) while in line."""
        if self.active < self.limit and not self._line:
            self.active += 1
        else:
            turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            entry = (turn, tell)
            self._line.append(entry)
            try:
                await tell(len(self._line))
                await turn
            except BaseException:
                if entry in self._line:
                    self._line.remove(entry)
                    await self._tell_line()
                elif turn.done() and not turn.cancelled():
                    self._release()  # handed a slot just as it was abandoned
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._line:
            turn, _ = self._line.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot passes on: `active` stays the same
                if self._line:
                    notice = asyncio.get_running_loop().create_task(self._tell_line())
                    self._notices.add(notice)
                    notice.add_done_callback(self._notices.discard)
                return
        self.active -= 1

    async def _tell_line(self) -> None:
        for position, (_, tell) in enumerate(list(self._line), start=1):
            try:
                await tell(position)
            except Exception:  # noqa: S112 - a failed notice must not stop the others
                continue
