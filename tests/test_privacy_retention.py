"""Retention sweeps against real PostgreSQL on a frozen clock: only what is due goes, a second
run changes nothing, a sweep killed halfway finishes on its next run, failures dead-letter."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, cast

from redis.asyncio import Redis

from hub.context import HubContext
from hub.db import Database
from hub.privacy import retention
from tests.support import Factory, FrozenClock, Org, User
from workers.base import MAX_TRIES
from workers.privacy_jobs import retention_monthly, retention_weekly


async def _notifications(factory: Factory, user: User, at: list[datetime]) -> None:
    for i, when in enumerate(at):
        await factory.fetch(
            """INSERT INTO notifications (user_id, dedup_key, kind, title, body, collapse_key,
                                          created_at)
               VALUES ($1, $2, 'message', 't', 'b', 'c', $3)""",
            user.id,
            f"n{i}",
            when,
        )


async def _seed(factory: Factory, now: datetime) -> tuple[Org, User]:
    """Rows on both sides of every period (old: past it; new: within it)."""
    org = await factory.org()
    user = await factory.user("student", org)
    days = timedelta(days=1)
    await _notifications(factory, user, [now - 91 * days, now - 120 * days, now - 89 * days])
    exam = await factory.fetchval(
        """INSERT INTO exams (zone_id, org_id, title, mode, item_count)
           VALUES ($1, $2, 'Quiz', 'fixed', 1) RETURNING id""",
        org.zone_id,
        org.id,
    )
    attempt = await factory.fetchval(
        """INSERT INTO attempts (exam_id, zone_id, org_id, student_id, number, started_at)
           VALUES ($1, $2, $3, $4, 1, $5) RETURNING id""",
        exam,
        org.zone_id,
        org.id,
        user.id,
        now,
    )
    for age in (31, 29):
        await factory.fetch(
            """INSERT INTO proctor_events (attempt_id, exam_id, zone_id, org_id, student_id,
                                           kind, severity, server_at, details)
               VALUES ($1, $2, $3, $4, $5, 'copy', 'warning', $6, $7)""",
            attempt,
            exam,
            org.zone_id,
            org.id,
            user.id,
            now - age * days,
            json.dumps({"selection": f"{age} days"}),
        )
    conv = await factory.conversation("group", org, [user], [])
    for seq, deleted in ((1, now - 31 * days), (2, now - 29 * days), (3, None)):
        await factory.fetch(
            """INSERT INTO messages (conversation_id, zone_id, org_id, seq, change_seq,
                                     sender_id, client_msg_id, content, deleted_at)
               VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)""",
            conv,
            org.zone_id,
            org.id,
            seq,
            user.id,
            f"c{seq}",
            f"text {seq}",
            deleted,
        )
    for age in (4 * 365, 2 * 365, 100):
        await factory.fetch(
            "INSERT INTO audit_log (at, action, details) VALUES ($1, 'test', $2)",
            now - age * days,
            json.dumps({"age": age}),
        )
    for age, outcome in ((366, "done"), (366, "streaming"), (10, "done")):
        await factory.fetch(
            """INSERT INTO tutor_requests (id, user_id, zone_id, org_id, client_msg_id, outcome,
                                           created_at)
               VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6)""",
            user.id,
            org.zone_id,
            org.id,
            f"q{age}{outcome}",
            outcome,
            now - age * days,
        )
    return org, user


async def _state(factory: Factory) -> dict[str, Any]:
    async def column(sql: str) -> list[Any]:
        return [r[0] for r in await factory.fetch(sql)]

    return {
        "notifications": await column("SELECT dedup_key FROM notifications ORDER BY 1"),
        "proctor": await column(
            "SELECT details->>'selection' FROM proctor_events ORDER BY server_at"
        ),
        "messages": await column("SELECT content FROM messages ORDER BY seq"),
        "audit": await column("SELECT (details->>'age')::int FROM audit_log ORDER BY 1"),
        "archive": await column("SELECT (details->>'age')::int FROM audit_archive ORDER BY 1"),
        "tutor": await column("SELECT client_msg_id FROM tutor_requests ORDER BY 1"),
    }


async def test_each_sweep_takes_only_what_is_due_and_a_second_run_changes_nothing(
    factory: Factory, clock: FrozenClock, hub_ctx: HubContext
) -> None:
    """Notifications past 90 days, detail past 30, deleted text past 30, audit past a year."""
    await _seed(factory, clock.now)
    touched = {name: await retention.run(hub_ctx, name) for name in retention.cutoffs(hub_ctx)}
    assert touched == {
        "notifications": 2,
        "proctor_detail": 1,
        "deleted_text": 1,
        "audit_archive": 2,
        "audit_expiry": 1,
        "tutor_records": 1,
        "exports": 0,
    }
    expected = {
        "notifications": ["n2"],
        "proctor": [None, "29 days"],
        "messages": ["", "text 2", "text 3"],
        "audit": [100],
        "archive": [730],
        "tutor": ["q10done", "q366streaming"],
    }
    assert await _state(factory) == expected
    again = {name: await retention.run(hub_ctx, name) for name in retention.cutoffs(hub_ctx)}
    assert set(again.values()) == {0}
    assert await _state(factory) == expected
    # A month later the next ones are due (the clock, not the wall, decides).
    clock.advance(days=2)
    assert await retention.run(hub_ctx, "notifications") == 1
    assert await retention.run(hub_ctx, "deleted_text") == 1


async def test_a_sweep_killed_halfway_finishes_on_its_next_run(
    factory: Factory, clock: FrozenClock, hub_ctx: HubContext
) -> None:
    """Batches commit one by one: after a kill the done ones stay done, the rest go next time."""
    org = await factory.org()
    user = await factory.user("student", org)
    old = clock.now - timedelta(days=100)
    await _notifications(factory, user, [old] * 5 + [clock.now])
    small = dataclasses.replace(
        hub_ctx, settings=hub_ctx.settings.model_copy(update={"retention_batch": 2})
    )
    assert await retention.run(small, "notifications", max_batches=1) == 2
    assert await factory.fetchval("SELECT count(*) FROM notifications") == 4
    assert await retention.run(small, "notifications") == 3
    assert await factory.fetchval("SELECT count(*) FROM notifications") == 1
    assert await retention.run(small, "notifications") == 0


async def test_the_worker_jobs_run_their_sweeps_and_dead_letter_when_they_keep_failing(
    factory: Factory, clock: FrozenClock, hub_ctx: HubContext, redis: Redis
) -> None:
    """The cron jobs sweep through `durable`; one failing on its last try is dead-lettered."""
    await _seed(factory, clock.now)
    assert await retention_weekly({"hub": hub_ctx, "job_try": 1}) == 3
    assert await retention_monthly({"hub": hub_ctx, "job_try": 1}) == 5

    class BrokenDatabase:
        @asynccontextmanager
        async def system(self) -> AsyncIterator[Any]:
            raise ConnectionError("database is down")
            yield

    broken = dataclasses.replace(hub_ctx, db=cast(Database, BrokenDatabase()))
    assert await retention_weekly({"hub": broken, "job_try": MAX_TRIES}) is None
    letters = await cast(Awaitable[list[bytes]], redis.lrange(hub_ctx.keys.dead_letters, 0, -1))
    entry = json.loads(letters[0])
    assert entry["job"] == "retention_weekly" and "database is down" in entry["error"]


def test_every_period_is_a_setting_with_the_seeds_default(hub_ctx: HubContext) -> None:
    """90 days, 30 days, 30 days, one year (archive kept three), tutor records one year."""
    s = hub_ctx.settings
    periods = (
        s.retention_notifications_days,
        s.retention_proctor_detail_days,
        s.retention_deleted_text_days,
        s.retention_audit_days,
        s.retention_audit_archive_days,
        s.retention_tutor_days,
    )
    assert periods == (90, 30, 30, 365, 3 * 365, 365)


async def test_a_clock_jump_stops_the_scheduled_sweeps_until_the_clocks_agree(
    factory: Factory, clock: FrozenClock, hub_ctx: HubContext, redis: Redis
) -> None:
    """The hub's clock a year ahead of the database's (or behind): the job takes nothing, is
    counted and dead-lettered; once the clock is right again it takes exactly what is due."""
    await _seed(factory, clock.now)
    before = await _state(factory)
    for jump in (365, -365):
        clock.advance(days=jump)
        assert await retention_weekly({"hub": hub_ctx, "job_try": MAX_TRIES}) is None
        clock.advance(days=-jump)
        assert await _state(factory) == before
    letters = await cast(Awaitable[list[bytes]], redis.lrange(hub_ctx.keys.dead_letters, 0, -1))
    errors = [json.loads(letter)["error"] for letter in letters]
    assert len(errors) == 2 and all("off the database's" in e for e in errors)
    assert await retention_weekly({"hub": hub_ctx, "job_try": 1}) == 3
