"""The second wall around the SECURITY DEFINER functions and the month partitions
(migration 0015): each test goes around the hub's code with raw SQL and fails on the schema
before that migration."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from hub.context import HubContext
from tests.support import Factory, send
from tests.test_rls_walls import _as


async def test_no_function_runs_for_public_and_none_reads_temporary_tables(
    hub_ctx: HubContext,
) -> None:
    """Every function that runs as its owner is closed to PUBLIC (so to any other role that
    can connect) and searches pg_temp last (a temporary `participants` cannot pass for
    the real one)."""
    async with hub_ctx.db.system() as conn:
        rows = await conn.fetch(
            """SELECT p.oid::regprocedure::text AS name,
                      has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_run,
                      coalesce(p.proconfig, '{}') AS config
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname = 'public' AND p.prosecdef"""
        )
    assert len(rows) > 20  # app_send_messages, app_item_key, app_search_messages, ...
    assert [r["name"] for r in rows if r["public_may_run"]] == []
    assert [r["name"] for r in rows if "search_path=public, pg_temp" not in r["config"]] == []


async def test_an_org_admin_cannot_enrol_itself_in_another_schools_conversation(
    hub_ctx: HubContext, factory: Factory
) -> None:
    """An admin of school A writes a participant row for school B's conversation under A's
    own zone and org ids: the row's tenant must be its conversation's."""
    school_a, school_b = await factory.org(), await factory.org()
    admin_a = await factory.user("org_admin", school_a)
    teacher_b, pupil_b = (
        await factory.user("teacher", school_b),
        await factory.user("student", school_b),
    )
    room_b = await factory.conversation("group", school_b, [teacher_b], [pupil_b])
    async with _as(hub_ctx, admin_a) as conn:
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(
                """INSERT INTO participants (conversation_id, user_id, zone_id, org_id, role)
                   VALUES ($1, $2, $3, $4, 'admin')""",
                room_b,
                admin_a.id,
                school_a.zone_id,
                school_a.id,
            )


async def test_a_month_addressed_by_name_shows_nothing_to_the_app_role(
    api: httpx.AsyncClient, hub_ctx: HubContext, factory: Factory
) -> None:
    """A message of school B is in this month's partition. Through `messages` a user of
    school A sees none of it (its policies); by the partition's own name, none either."""
    school_a, school_b = await factory.org(), await factory.org()
    reader = await factory.user("teacher", school_a)
    teacher_b, pupil_b = (
        await factory.user("teacher", school_b),
        await factory.user("student", school_b),
    )
    room_b = await factory.conversation("group", school_b, [teacher_b], [pupil_b])
    await send(api, teacher_b, str(room_b), "only for school B")
    async with hub_ctx.db.system() as conn:
        month = await conn.fetchval(
            """SELECT tableoid::regclass::text FROM messages WHERE conversation_id = $1""",
            room_b,
        )
    assert month is not None and month.startswith("messages_p")
    async with _as(hub_ctx, reader) as conn:
        seen = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE conversation_id = $1", room_b
        )
        assert seen == 0
        try:
            shown = await conn.fetchval(f"SELECT count(*) FROM {month}")
        except asyncpg.InsufficientPrivilegeError:
            shown = 0  # a month made after migrate.py's grants is not even granted: stricter
        assert shown == 0
