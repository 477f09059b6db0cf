"""Row-level security is a second wall of its own (issue 13 §4): raw SQL under the acting
user's role, with every code check bypassed, cannot write participants it may not write nor
read answer keys it may not read."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from hub.context import HubContext
from hub.db import Connection
from tests.exam_support import answer, make_exam, make_items, school, start
from tests.support import Factory, Org, User


class _Rollback(Exception):
    """Leave the acting transaction without keeping what it wrote."""


@asynccontextmanager
async def _as(hub_ctx: HubContext, user: User) -> AsyncIterator[Connection]:
    """A transaction acting as `user`, rolled back at the end whatever it did."""
    try:
        async with hub_ctx.db.acting(user.id) as conn:
            yield conn
            raise _Rollback
    except _Rollback:
        pass


async def _group(factory: Factory) -> tuple[Org, User, User, User, UUID]:
    """A class group: its admin (a teacher), a member, and a pupil of the school outside it."""
    org = await factory.org()
    admin, member = await factory.user("teacher", org), await factory.user("student", org)
    outsider = await factory.user("student", org)
    room = await factory.conversation("group", org, [admin], [member])
    return org, admin, member, outsider, room


_ADD = """INSERT INTO participants (conversation_id, user_id, zone_id, org_id, role)
          VALUES ($1, $2, $3, $4, $5)"""


async def test_a_member_cannot_add_anyone_promote_itself_or_remove_others(
    hub_ctx: HubContext, factory: Factory
) -> None:
    """A pupil in the group cannot add a classmate, make itself admin or mark the teacher as
    gone; a pupil outside it cannot add itself; the group's admin can add; each pupil can
    still update its own row (read marks, leaving)."""
    org, admin, member, outsider, room = await _group(factory)
    for actor, user, role in ((member, outsider, "member"), (outsider, outsider, "member")):
        async with _as(hub_ctx, actor) as conn:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(_ADD, room, user.id, org.zone_id, org.id, role)
    async with _as(hub_ctx, member) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "UPDATE participants SET role = 'admin' WHERE conversation_id = $1 "
                "AND user_id = $2",
                room,
                member.id,
            )
    async with _as(hub_ctx, member) as conn:
        others = await conn.execute(
            "UPDATE participants SET left_at = now() WHERE conversation_id = $1 AND user_id = $2",
            room,
            admin.id,
        )
        assert others == "UPDATE 0"
        mine = await conn.execute(
            "UPDATE participants SET last_read_seq = 0, left_at = now() "
            "WHERE conversation_id = $1 AND user_id = $2",
            room,
            member.id,
        )
        assert mine == "UPDATE 1"
    async with _as(hub_ctx, admin) as conn:
        assert await conn.execute(_ADD, room, outsider.id, org.zone_id, org.id, "member") == (
            "INSERT 0 1"
        )


async def test_a_participant_row_never_moves_to_another_conversation(
    hub_ctx: HubContext, factory: Factory
) -> None:
    """Its own user cannot re-point a row at another conversation (joining it through the
    back door): the database refuses it for every role."""
    _, _, member, _, room = await _group(factory)
    org2 = await factory.org()
    teacher = await factory.user("teacher", org2)
    elsewhere = await factory.conversation("group", org2, [teacher], [])
    async with _as(hub_ctx, member) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "UPDATE participants SET conversation_id = $3 "
                "WHERE conversation_id = $1 AND user_id = $2",
                room,
                member.id,
                elsewhere,
            )


async def test_who_creates_a_conversation_writes_its_first_participants_only_then(
    hub_ctx: HubContext, factory: Factory
) -> None:
    """The creator adds the first participants in the creating transaction; in a later
    transaction, as a plain member of it, the same creator cannot add anyone."""
    org = await factory.org()
    teacher, pupil, other = [await factory.user(r, org) for r in ("teacher", "student", "student")]
    room = uuid.uuid4()  # as the code does: no RETURNING before the creator is a participant
    async with hub_ctx.db.acting(teacher.id) as conn:
        await conn.execute(
            "INSERT INTO conversations (id, zone_id, org_id, kind, title, created_by) "
            "VALUES ($1, $2, $3, 'group', 'Made now', $4)",
            room,
            org.zone_id,
            org.id,
            teacher.id,
        )
        await conn.execute(_ADD, room, teacher.id, org.zone_id, org.id, "member")
        await conn.execute(_ADD, room, pupil.id, org.zone_id, org.id, "member")
    async with _as(hub_ctx, teacher) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(_ADD, room, other.id, org.zone_id, org.id, "member")


async def _keys(hub_ctx: HubContext, user: User, items: list[dict[str, Any]]) -> list[int | None]:
    async with _as(hub_ctx, user) as conn:
        return [await conn.fetchval("SELECT app_item_key($1::uuid)", i["id"]) for i in items]


async def test_a_student_cannot_read_answer_keys_except_the_question_being_answered(
    hub_ctx: HubContext, api: httpx.AsyncClient, factory: Factory
) -> None:
    """Raw SQL as a student of the school cannot read items.answer at all, and the key
    function answers only for the question their active CBT attempt is on (its scoring runs
    as them); the teacher reads every key, and answers are still scored."""
    s = await school(factory)
    items = await make_items(api, s.teacher, s.org, 3, answer=2)
    assert [i["answer"] for i in items] == [2, 2, 2]  # staff: through INSERT ... RETURNING
    sitting, other = s.students
    async with _as(hub_ctx, sitting) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT answer FROM items")
    async with _as(hub_ctx, sitting) as conn:
        assert len(await conn.fetch("SELECT id, stem, choices FROM items")) == 3
    assert await _keys(hub_ctx, sitting, items) == [None, None, None]
    exam = await make_exam(api, s.teacher, s.org, items, "cbt", time_limit_s=600)
    attempt = await start(api, sitting, exam)
    assert await _keys(hub_ctx, sitting, items) == [2, None, None]
    assert await _keys(hub_ctx, other, items) == [None, None, None]
    answered = await answer(api, sitting, attempt["id"], items[0]["id"], 2)
    assert answered.status_code == 201, answered.text
    assert await _keys(hub_ctx, sitting, items) == [None, 2, None]
    assert await _keys(hub_ctx, s.teacher, items) == [2, 2, 2]
    correct = await factory.fetchval(
        "SELECT correct FROM answers WHERE attempt_id = $1::uuid", attempt["id"]
    )
    assert correct is True
