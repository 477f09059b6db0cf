"""A socket's connect state in one round trip (migration 0016, `app_connect_state`): the
function sets the acting user itself, so row-level security still decides what it reads, and
it refuses to change who a longer transaction acts for."""

from __future__ import annotations

import asyncpg
import pytest

from hub.context import HubContext
from tests.support import Factory
from tests.test_rls_walls import _as

_STATE = "SELECT * FROM app_connect_state($1, $2)"


async def test_it_reads_the_users_rooms_and_direct_contacts(
    hub_ctx: HubContext, factory: Factory
) -> None:
    org = await factory.org()
    me, friend, stranger = [await factory.user("student", org) for _ in range(3)]
    direct = await factory.conversation("direct", org, [], [me, friend])
    group = await factory.conversation("group", org, [friend], [me])
    await factory.conversation("direct", org, [], [friend, stranger])  # not mine
    async with hub_ctx.db.pool.acquire() as conn:
        row = await conn.fetchrow(_STATE, me.session_id, me.id)
    assert row is not None
    assert row["revoked_at"] is None and row["deleted_at"] is None
    assert set(row["rooms"]) == {direct, group}
    assert row["contacts"] == [friend.id]


async def test_a_session_of_another_user_reads_nothing(
    hub_ctx: HubContext, factory: Factory
) -> None:
    """A token whose session id belongs to someone else: no row (the handshake is refused)."""
    org = await factory.org()
    me, other = await factory.user("student", org), await factory.user("student", org)
    async with hub_ctx.db.pool.acquire() as conn:
        assert await conn.fetchrow(_STATE, other.session_id, me.id) is None
        assert await conn.fetchrow(_STATE, None, me.id) is None  # STRICT


async def test_row_security_is_the_wall_inside(hub_ctx: HubContext, factory: Factory) -> None:
    """The function runs as its caller: with the app role, the acting user it sets sees only
    their own rows; participants of a room they are not in stay invisible."""
    org = await factory.org()
    me, a, b = [await factory.user("student", org) for _ in range(3)]
    await factory.conversation("group", org, [a], [b])
    async with hub_ctx.db.pool.acquire() as conn:
        row = await conn.fetchrow(_STATE, me.session_id, me.id)
        assert row is not None and row["rooms"] == [] and row["contacts"] == []
        walls = await conn.fetchrow(
            """SELECT prosecdef AS definer,
                      has_function_privilege('public', oid, 'EXECUTE') AS public_may_run
               FROM pg_proc WHERE proname = 'app_connect_state'"""
        )
    assert walls is not None
    assert walls["definer"] is False and walls["public_may_run"] is False
    # The setting ended with the call's own transaction: the next statement acts for nobody.
    async with hub_ctx.db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT current_setting('app.user_id', true)") in (None, "")


async def test_it_refuses_to_switch_a_transaction_acting_for_someone_else(
    hub_ctx: HubContext, factory: Factory
) -> None:
    """Inside a transaction acting for `me`, asking for `other` would make the rest of that
    transaction act for `other`: refused. For `me` itself it answers."""
    org = await factory.org()
    me, other = await factory.user("student", org), await factory.user("student", org)
    with pytest.raises(asyncpg.RaiseError, match="cannot change the acting user"):
        async with _as(hub_ctx, me) as conn:
            await conn.fetchrow(_STATE, other.session_id, other.id)
    async with _as(hub_ctx, me) as conn:
        assert await conn.fetchrow(_STATE, me.session_id, me.id) is not None
