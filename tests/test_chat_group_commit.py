"""Group commit (hub/chat/writes.py, app_send_messages in migration 0014): messages sent at
once share one transaction, and each keeps the promises of a message sent alone."""

from __future__ import annotations

import asyncio
from uuid import UUID

import asyncpg
import httpx

from hub.chat import writes
from hub.chat.search import tokens
from hub.clock import utc_now
from hub.context import HubContext
from tests.support import Factory, classroom, post


def draft(
    sender: UUID, conversation: str, cmid: str, content: str = "hi", **kw: object
) -> writes.Draft:
    fields: dict[str, object] = {
        "sender_id": sender,
        "conversation_id": UUID(conversation),
        "client_msg_id": cmid,
        "content": content,
        "message_type": "text",
        "reply_to": None,
        "ack_required": False,
        "urgent": False,
        "tokens": tokens(content),
        "now": utc_now(),
    }
    fields.update(kw)
    return writes.Draft(**fields)  # type: ignore[arg-type]


async def seqs_of(factory: Factory, conversation: str) -> list[int]:
    rows = await factory.fetch(
        "SELECT seq FROM messages WHERE conversation_id = $1::uuid ORDER BY seq", conversation
    )
    return [r["seq"] for r in rows]


async def test_a_refused_row_leaves_its_neighbours_in_the_batch_stored(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """One batch of three: the outsider's row is refused, the two members' rows are stored."""
    room = await classroom(api, factory, students=2)
    outsider = await factory.user("student", room.org)
    writer = writes.MessageWriter(hub_ctx.db, max_in_flight=1)
    results = await asyncio.gather(
        writer.write(draft(room.students[0].id, room.id, "a")),
        writer.write(draft(outsider.id, room.id, "b")),
        writer.write(draft(room.students[1].id, room.id, "c")),
    )
    assert writer.batches == 1
    assert [r.outcome for r in results] == [
        writes.Outcome.WRITTEN,
        writes.Outcome.REFUSED,
        writes.Outcome.WRITTEN,
    ]
    assert [results[0].row["seq"], results[2].row["seq"]] == [1, 2]
    assert await seqs_of(factory, room.id) == [1, 2]


async def test_a_failing_batch_is_written_again_one_row_at_a_time(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """A row that makes the whole call fail fails only its own write; the others are stored."""
    room = await classroom(api, factory, students=1)
    writer = writes.MessageWriter(hub_ctx.db, max_in_flight=1)
    student = room.students[0].id
    results = await asyncio.gather(
        writer.write(draft(student, room.id, "a")),
        writer.write(draft(student, room.id, "b", message_type="no-such-type")),
        writer.write(draft(room.teacher.id, room.id, "c")),
        return_exceptions=True,
    )
    assert isinstance(results[1], asyncpg.InvalidTextRepresentationError)
    assert [r.outcome for r in (results[0], results[2])] == [writes.Outcome.WRITTEN] * 2  # type: ignore[union-attr]
    assert writer.batches == 4  # the batch of three, then each row alone
    assert await seqs_of(factory, room.id) == [1, 2]


async def test_concurrent_senders_get_gap_free_seqs_through_the_batches(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """60 writes from three senders into two conversations, in batches of at most 8: each
    conversation's seqs are exactly 1..N and last_seq is N; with one batch in flight (the
    default) they follow the arrival order, with two they may not, but still have no gap."""
    first = await classroom(api, factory, students=2)
    second = await classroom(api, factory, students=2)
    who = [lambda r: r.teacher.id, lambda r: r.students[0].id, lambda r: r.students[1].id]
    plan = [(first if n % 3 else second, n % 3) for n in range(60)]
    stored = {first.id: 0, second.id: 0}
    for in_flight in (1, 2):
        writer = writes.MessageWriter(hub_ctx.db, max_batch=8, max_in_flight=in_flight)
        results = await asyncio.gather(
            *(
                writer.write(draft(who[s](room), room.id, f"{in_flight}-{n}"))
                for n, (room, s) in enumerate(plan)
            )
        )
        assert writer.batches >= 60 // 8
        for room in (first, second):
            got = [r.row["seq"] for r, (rm, _) in zip(results, plan, strict=True) if rm is room]
            expected = list(range(stored[room.id] + 1, stored[room.id] + len(got) + 1))
            assert (got if in_flight == 1 else sorted(got)) == expected
            stored[room.id] += len(got)
            assert await seqs_of(factory, room.id) == list(range(1, stored[room.id] + 1))
            last = await factory.fetchval(
                "SELECT last_seq FROM conversations WHERE id = $1::uuid", room.id
            )
            assert last == stored[room.id]


async def test_a_retry_in_the_same_batch_is_stored_once(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """The same client_msg_id twice in one batch: stored once, the retry gets the same id and
    seq, and the next message still gets the next seq."""
    room = await classroom(api, factory, students=1)
    student = room.students[0].id
    writer = writes.MessageWriter(hub_ctx.db, max_in_flight=1)
    once, again, after = await asyncio.gather(
        writer.write(draft(student, room.id, "same")),
        writer.write(draft(student, room.id, "same")),
        writer.write(draft(student, room.id, "next")),
    )
    assert writer.batches == 1
    assert (once.outcome, again.outcome, after.outcome) == (
        writes.Outcome.WRITTEN,
        writes.Outcome.STORED,
        writes.Outcome.WRITTEN,
    )
    assert (again.row["id"], again.row["seq"]) == (once.row["id"], once.row["seq"])
    assert await seqs_of(factory, room.id) == [1, 2]


async def test_a_retry_racing_in_another_process_batch_is_stored_once(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """Two writers (two hub processes) write the same message at once, each in a batch with
    another message: one stores it, the other answers 'stored' with its id, and the seqs
    have no gap (a seq taken by the loser is given back)."""
    room = await classroom(api, factory, students=2)
    one, two = (writes.MessageWriter(hub_ctx.db, max_in_flight=1) for _ in range(2))
    student = room.students[0].id
    results = await asyncio.gather(
        one.write(draft(student, room.id, "race")),
        one.write(draft(room.teacher.id, room.id, "t")),
        two.write(draft(student, room.id, "race")),
        two.write(draft(room.students[1].id, room.id, "s")),
    )
    race = sorted((results[0], results[2]), key=lambda r: r.outcome)
    assert [r.outcome for r in race] == [writes.Outcome.STORED, writes.Outcome.WRITTEN]
    assert race[0].row["id"] == race[1].row["id"]
    assert await seqs_of(factory, room.id) == [1, 2, 3]
    count = await factory.fetchval("SELECT count(*) FROM messages WHERE client_msg_id = 'race'")
    assert count == 1


async def test_the_batch_function_refuses_non_participants_without_the_hub(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """Called directly as the application role (no Python check), app_send_messages refuses
    an outsider and a member who left, writes nothing for them, and takes no seq."""
    room = await classroom(api, factory, students=2)
    outsider = await factory.user("student", room.org)
    leaver = room.students[1]
    await factory.fetch(
        "UPDATE participants SET left_at = now() WHERE conversation_id = $1::uuid AND user_id = $2",
        room.id,
        leaver.id,
    )
    batch = [
        draft(outsider.id, room.id, "x").as_json(0),
        draft(leaver.id, room.id, "y").as_json(1),
        draft(room.students[0].id, room.id, "z").as_json(2),
    ]
    async with hub_ctx.db.anonymous() as conn:
        role = await conn.fetchval("SELECT current_user")
        rows = await conn.fetch("SELECT idx, status, seq FROM app_send_messages($1::jsonb)", batch)
    assert role == hub_ctx.settings.app_db_role
    assert sorted((r["idx"], r["status"], r["seq"]) for r in rows) == [
        (0, "refused", None),
        (1, "refused", None),
        (2, "written", 1),
    ]
    senders = await factory.fetch("SELECT sender_id FROM messages")
    assert [r["sender_id"] for r in senders] == [room.students[0].id]


async def test_rules_the_batch_leaves_to_the_full_path_still_refuse(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A student posting in an announcement goes the full path and gets its 403, while the
    teacher's message in the same moment is stored by the batch."""
    room = await classroom(api, factory, students=1, kind="announcement")
    student, teacher = await asyncio.gather(
        post(api, room.students[0], room.id, "me too"),
        post(api, room.teacher, room.id, "Trip on Friday"),
    )
    assert (student.status_code, teacher.status_code) == (403, 201), student.text
    assert await seqs_of(factory, room.id) == [1]
