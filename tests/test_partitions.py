"""Messages partitioned by month (0009_partitions.sql, hub/chat/partitions.py): the archive
boundary is invisible to history, sync, search and seq; a month without a partition is made
when a message arrives; idempotent retries cross the month boundary; sends go on while a
month moves to the archive; the hot paths read only the hot months (EXPLAIN ANALYZE)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from hub import metrics
from hub.chat import conversations, messages, partitions, sync
from hub.context import Actor, HubContext
from schema.models.chat import SyncRequest
from tests.support import Classroom, Factory, classroom, cmid, history, post, send

HANGUL = "지난 학기 기말고사 범위"


@pytest.fixture
async def owner(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def _backdate(owner: asyncpg.Connection, room: Classroom, upto_seq: int, months: int) -> str:
    """Move a conversation's first messages `months` back (PostgreSQL moves the rows into
    that month's partition); the name of that partition."""
    name: str = await owner.fetchval(
        "SELECT app_message_partition(now() - make_interval(months => $1))", months
    )
    await owner.execute(
        """UPDATE messages SET created_at = created_at - make_interval(months => $3)
           WHERE conversation_id = $1 AND seq <= $2""",
        UUID(room.id),
        upto_seq,
        months,
    )
    return name


def _actor(user_id: UUID) -> Actor:
    return Actor(user_id, uuid4())


async def _all_pages(api: httpx.AsyncClient, room: Classroom) -> list[int]:
    seqs: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = await history(api, room.teacher, room.id, **params)
        seqs = [m["seq"] for m in page["items"]] + seqs
        if not page["has_more"]:
            return seqs
        params["before"] = page["items"][0]["seq"]


async def test_an_archived_month_reads_like_a_hot_one(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext, owner: asyncpg.Connection
) -> None:
    """After a month moves to the archive, history pages, sync, Korean search and seq run
    across the boundary with no hole."""
    room = await classroom(api, factory)
    for n in range(1, 7):
        await send(api, room.teacher, room.id, HANGUL if n == 2 else f"message {n}")
    old = await _backdate(owner, room, 3, months=4)
    moved = {r.partition: r for r in await partitions.archive_due(hub_ctx)}
    assert moved[old].row_count == 3
    state = await owner.fetchrow(
        """SELECT c.relispartition, (SELECT count(*) FROM message_archives WHERE partition = $1)
           FROM pg_class c WHERE c.relname = $1""",
        old,
    )
    assert state is not None and tuple(state) == (True, 1)
    assert await partitions.archive_due(hub_ctx) == []  # idempotent

    assert await _all_pages(api, room) == [1, 2, 3, 4, 5, 6]
    forward = await history(api, room.teacher, room.id, after=0, limit=4)
    assert [m["seq"] for m in forward["items"]] == [1, 2, 3, 4] and forward["has_more"]
    student = room.students[0]
    caught_up = await sync.sync(
        hub_ctx, _actor(student.id), SyncRequest(conversations={UUID(room.id): 0})
    )
    entry = caught_up["conversations"][room.id]
    assert [m["seq"] for m in entry["messages"]] == [1, 2, 3, 4, 5, 6]
    found = await api.get("/search", params={"q": "기말"}, headers=student.headers)
    assert [r["message"]["seq"] for r in found.json()["items"]] == [2]
    assert (await send(api, room.teacher, room.id, "after the move"))["seq"] == 7


async def test_a_message_for_a_month_without_a_partition_is_stored(
    api: httpx.AsyncClient, factory: Factory, owner: asyncpg.Connection
) -> None:
    """With the current month's partition gone, a send makes it and stores the message."""
    room = await classroom(api, factory)
    current: str = await owner.fetchval("SELECT app_message_partition(now())")
    await owner.execute(f'ALTER TABLE messages DETACH PARTITION "{current}"')
    await owner.execute(f'ALTER TABLE "{current}" RENAME TO part_test_aside')
    made = metrics.MESSAGE_PARTITIONS.labels("created_on_demand")._value.get()
    try:
        ack = await send(api, room.teacher, room.id, "first of the month")
        assert ack["seq"] == 1
        assert metrics.MESSAGE_PARTITIONS.labels("created_on_demand")._value.get() == made + 1
        where = await owner.fetchval(
            "SELECT tableoid::regclass::text FROM messages WHERE id = $1", UUID(ack["id"])
        )
        assert where == current
    finally:
        await owner.execute("DROP TABLE part_test_aside")


async def test_a_retry_landing_in_the_next_month_returns_the_first_ack(
    api: httpx.AsyncClient, factory: Factory, owner: asyncpg.Connection
) -> None:
    """A message stored last month and retried this month is stored once, with its seq."""
    room = await classroom(api, factory)
    client_msg_id = cmid()
    first = await send(api, room.teacher, room.id, "sent at 23:59", client_msg_id=client_msg_id)
    await _backdate(owner, room, 1, months=1)
    retry = await post(api, room.teacher, room.id, "sent at 23:59", client_msg_id=client_msg_id)
    assert retry.status_code in (200, 201), retry.text
    assert (retry.json()["id"], retry.json()["seq"]) == (first["id"], first["seq"])
    stored = await owner.fetchval(
        "SELECT count(*) FROM messages WHERE client_msg_id = $1", client_msg_id
    )
    assert stored == 1
    assert (await send(api, room.teacher, room.id, "next"))["seq"] == 2


async def _wait_for_archiver(owner: asyncpg.Connection) -> None:
    """Until the move's DETACH waits for the transaction the test holds open."""
    async with asyncio.timeout(10):
        while True:
            if await owner.fetchval(
                """SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                                  WHERE query LIKE 'ALTER TABLE messages DETACH%'
                                    AND wait_event_type = 'Lock')"""
            ):
                return
            await asyncio.sleep(0.02)  # a state of the server: there is no event to wait on


async def test_sends_go_on_while_a_month_moves_to_the_archive(
    api: httpx.AsyncClient,
    factory: Factory,
    hub_ctx: HubContext,
    owner: asyncpg.Connection,
    database_url: str,
) -> None:
    """With the move stuck in its DETACH (an old reader still open), sends and hot history
    go on; when it ends, every seq is there once."""
    room = await classroom(api, factory)
    for n in range(1, 5):
        await send(api, room.teacher, room.id, f"old {n}")
    old = await _backdate(owner, room, 4, months=5)
    reader = await asyncpg.connect(database_url)
    try:
        await reader.execute("BEGIN; SELECT count(*) FROM messages")
        move = asyncio.create_task(partitions.archive_month(hub_ctx, old))
        await _wait_for_archiver(owner)
        acks = await asyncio.gather(
            *(send(api, s, room.id, f"during the move {n}") for n, s in enumerate(room.students))
        )
        await send(api, room.teacher, room.id, "one more")
        recent = await history(api, room.teacher, room.id, limit=3)
        # A page reaching into the moving month waits for the move instead of missing it.
        whole = asyncio.create_task(_all_pages(api, room))
        assert not move.done()
        await reader.execute("COMMIT")
        result = await asyncio.wait_for(move, 10)
        assert await asyncio.wait_for(whole, 10) == list(range(1, 8))
    finally:
        await reader.close()
    assert result.row_count == 4
    assert sorted(a["seq"] for a in acks) == [5, 6]
    assert [m["seq"] for m in recent["items"]] == [5, 6, 7] and recent["has_more"]


def _touched(plan: Any) -> set[str]:
    """Relations a plan (EXPLAIN ANALYZE) actually read or wrote."""
    found: set[str] = set()
    if isinstance(plan, dict):
        if "Relation Name" in plan and plan.get("Actual Loops", 1) > 0:
            found.add(plan["Relation Name"])
        for value in plan.values():
            found |= _touched(value)
    elif isinstance(plan, list):
        for value in plan:
            found |= _touched(value)
    return found


async def test_send_history_and_unread_counts_read_only_hot_months(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext, owner: asyncpg.Connection
) -> None:
    """EXPLAIN ANALYZE, as the application role: the send, a recent history page and the
    conversation list with unread counts touch no month before the hot ones."""
    room = await classroom(api, factory)
    for n in range(1, 4):
        await send(api, room.teacher, room.id, f"message {n}")
    await _backdate(owner, room, 1, months=6)
    hot = partitions.hot_since(hub_ctx.clock(), hub_ctx.settings)
    cold = {
        p.name for p in await partitions.partitions(owner) if p.month < hot.date() and p.attached
    }
    assert cold  # the month backdated to at least

    teacher = room.teacher.id
    plans: dict[str, set[str]] = {}

    async def explain(name: str, sql: str, *args: Any) -> None:
        statement = await owner.prepare(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        plan = await statement.fetchval(*args)
        plans[name] = _touched(json.loads(plan) if isinstance(plan, str) else plan)

    # As the hub runs them: the application role, RLS on; the send's row is rolled back.
    await owner.execute("BEGIN; SET LOCAL ROLE dreamseed_app")
    await owner.execute("SELECT set_config('app.user_id', $1, true)", str(teacher))
    try:
        text = cmid()
        await explain(
            "send_rules", messages._SEND_CONTEXT, teacher, UUID(room.id), text, None, None
        )
        await explain(
            "send_write",
            messages._SEND_WRITE,
            *(UUID(room.id), teacher, text, "text", "hello", None, False, ["hello"], False),
        )
        await explain(
            "history",
            messages._HISTORY.format(order="DESC"),
            *(UUID(room.id), None, None, None, None, 51, hot),
        )
        await explain("unread", conversations._MINE, teacher, hot)
    finally:
        await owner.execute("ROLLBACK")
    for name, touched in plans.items():
        assert touched & cold == set(), name
    # The write goes through the parent (one row routed to this month); reads name months.
    assert {"messages", "message_keys", "conversations"} <= plans["send_write"]
    assert any(t.startswith("messages_p") for t in plans["history"] | plans["unread"])


async def test_the_job_makes_months_ahead_and_prunes_old_keys(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext, owner: asyncpg.Connection
) -> None:
    """prepare_message_months: the months ahead exist (and the gauge says so); idempotency
    keys past their window go, recent ones stay."""
    room = await classroom(api, factory)
    old = await send(api, room.teacher, room.id, "last week")
    new = await send(api, room.teacher, room.id, "today")
    days = hub_ctx.settings.message_key_days + 1
    await owner.execute(
        """UPDATE message_keys SET created_at = created_at - make_interval(days => $2)
           WHERE message_id = $1""",
        UUID(old["id"]),
        days,
    )
    await partitions.create_ahead(hub_ctx)
    assert await partitions.create_ahead(hub_ctx) == 0
    ahead = hub_ctx.settings.message_partitions_ahead
    assert metrics.MESSAGE_MONTHS_AHEAD._value.get() >= ahead
    assert await partitions.prune_keys(hub_ctx) >= 1
    kept = await owner.fetch("SELECT message_id FROM message_keys")
    assert [r["message_id"] for r in kept] == [UUID(new["id"])]
