"""Group commit: the messages a hub process is sending at once share one transaction.

Each message costs PostgreSQL a transaction and a WAL flush when written alone; under load
that flush and the BEGIN/SET LOCAL/COMMIT round trips are most of the work. `MessageWriter`
queues the messages waiting to be written and hands them to `app_send_messages` (migration
0014) in one call, which is one round trip, one transaction and one flush for the lot.

There is no timer: a message that finds no batch in flight goes at once (a batch of one, at
low load, which still costs one round trip instead of four), and messages arriving while
batches are in flight wait for the next, so the batch grows with the load by itself.

The function, not RLS, is the wall here (several senders share the transaction): it checks
each row's sender is a current participant and answers per row (see the migration). A call
that fails as a whole (not for a reason its rows carry) is retried row by row, so a row that
cannot be written fails only its own send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import asyncpg

from hub.chat import partitions
from hub.context import HubContext
from hub.db import Database
from hub.outages import dependency_of

logger = logging.getLogger("dreamseed.chat.writes")

MAX_BATCH = 64
# One batch in flight: the seqs of a conversation then follow the order in which this process
# received its messages (two batches in flight could lock a conversation in either order).
# The next batch fills while PostgreSQL flushes this one.
MAX_IN_FLIGHT = 1

_WRITE = "SELECT * FROM app_send_messages($1::jsonb)"


class Outcome(StrEnum):
    WRITTEN = "written"  # stored now; `row` holds the message's columns
    STORED = "stored"  # this (sender, client_msg_id) was stored before; `row` has its ack
    REFUSED = "refused"  # the sender is not a current participant: nothing written
    CHECKS = "checks"  # a rule needs the full single-message path: nothing written


@dataclass(frozen=True)
class Draft:
    """A message checked by the hub (clean text, no files), ready to be written."""

    sender_id: UUID
    conversation_id: UUID
    client_msg_id: str
    content: str
    message_type: str
    reply_to: UUID | None
    ack_required: bool
    urgent: bool
    tokens: list[str]
    now: datetime

    def as_json(self, index: int) -> dict[str, Any]:
        return {
            "i": index,
            "sender": str(self.sender_id),
            "conversation": str(self.conversation_id),
            "client_msg_id": self.client_msg_id,
            "message_type": self.message_type,
            "content": self.content,
            "reply_to": None if self.reply_to is None else str(self.reply_to),
            "ack_required": self.ack_required,
            "urgent": self.urgent,
            "tokens": self.tokens,
            "now": self.now.isoformat(),
        }


@dataclass(frozen=True)
class Written:
    outcome: Outcome
    row: dict[str, Any]


_Pending = tuple[Draft, "asyncio.Future[Written]"]


class MessageWriter:
    """The process's group-commit queue in front of the database pool."""

    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = MAX_BATCH,
        max_in_flight: int = MAX_IN_FLIGHT,
        make_month: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._db = db
        self._make_month = make_month  # partitions.create_on_demand, bound to the context
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._queue: list[_Pending] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # calls of the function (for tests and metrics)

    async def write(self, draft: Draft) -> Written:
        """Write one message with whatever else is waiting; answer once it is committed."""
        future: asyncio.Future[Written] = asyncio.get_running_loop().create_future()
        self._queue.append((draft, future))
        if self._in_flight < self._max_in_flight:
            self._in_flight += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                await self._flush(batch)
        except asyncio.CancelledError as exc:
            if self._in_flight == 1:  # the last writer stops (shutdown): nobody would answer
                waiting, self._queue = self._queue, []
                for _, future in waiting:
                    _settle(future, exc)
            raise
        finally:
            self._in_flight -= 1

    async def _flush(self, batch: list[_Pending], *, month_made: bool = False) -> None:
        try:
            results = await self._call([d for d, _ in batch])
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            if partitions.is_missing_partition(exc) and self._make_month and not month_made:
                # No partition for this month yet (0009): make it, write the batch again.
                try:
                    await self._make_month()
                except Exception as failed:
                    for _, future in batch:
                        _settle(future, failed)
                    return
                await self._flush(batch, month_made=True)
                return
            if len(batch) == 1 or dependency_of(exc) is not None:
                # PostgreSQL is unreachable: row by row would only fail N times as slowly.
                for _, future in batch:
                    _settle(future, exc)
                return
            logger.warning(
                "a batch of %d messages failed (%s): writing them one by one", len(batch), exc
            )
            for one in batch:
                await self._flush([one])
            return
        except BaseException as exc:  # cancelled, or a bug: tell every waiting sender
            for _, future in batch:
                _settle(future, exc)
            if not isinstance(exc, Exception):
                raise
            logger.exception("writing a batch of %d messages failed", len(batch))
            return
        for (_, future), written in zip(batch, results, strict=True):
            _settle(future, written)

    async def _call(self, drafts: Sequence[Draft]) -> list[Written]:
        self.batches += 1
        # No explicit transaction: the one statement is its own, committed (and flushed)
        # before asyncpg returns its rows.
        async with self._db.pool.acquire() as conn:
            rows = await conn.fetch(_WRITE, [d.as_json(i) for i, d in enumerate(drafts)])
        by_index: dict[int, Written] = {}
        for row in rows:
            values = dict(row)
            index, outcome = values.pop("idx"), Outcome(values.pop("status"))
            by_index[index] = Written(outcome, values)
        if len(by_index) != len(drafts):
            raise RuntimeError(f"app_send_messages answered {len(by_index)} of {len(drafts)} rows")
        return [by_index[i] for i in range(len(drafts))]

    async def close(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _settle(future: asyncio.Future[Written], result: Written | BaseException) -> None:
    if future.done():  # its sender gave up waiting (cancelled); the write stands
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def wire(ctx: HubContext) -> None:
    """Give the process its group-commit queue: called where the process is assembled."""
    ctx.components.add(MessageWriter(ctx.db, make_month=lambda: partitions.create_on_demand(ctx)))


def of(ctx: HubContext) -> MessageWriter:
    """The process's group-commit queue (made on first use where nobody wired one)."""
    try:
        return ctx.components.get(MessageWriter)
    except LookupError:
        wire(ctx)
        return ctx.components.get(MessageWriter)
