"""The deadline jobs through the real arq worker in burst mode: overdue attempts are submitted as
of their deadline, once; attempts not yet due (or extended) are left alone; parents are told."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.jobs import Job
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from hub.context import Actor, HubContext
from hub.notify.email import EmailSender
from hub.notify.push import PushSender
from hub.proctor.actions import extend
from hub.settings import Settings
from schema.models.proctor import Extend
from tests.burst import run_burst
from tests.exam_support import School, answer, make_exam, make_items, school, start
from tests.support import Factory, FrozenClock, error_of


@dataclass
class Burst:
    """A queue of its own and a burst worker that runs the product's jobs with the hub's context."""

    name: str
    pool: ArqRedis
    settings: RedisSettings
    ctx: dict[str, Any]

    async def run(self, function: str, *args: Any) -> Any:
        """Queue one job, run the worker until the queue is empty, return the job's result."""
        job = await self.pool.enqueue_job(
            function, *args, _queue_name=self.name, _job_id=f"{self.name}:{secrets.token_hex(4)}"
        )
        assert job is not None
        worker = await run_burst(self.settings, self.name, self.ctx)
        assert (worker.jobs_complete, worker.jobs_failed, worker.jobs_retried) == (1, 0, 0)
        return await job.result(timeout=5)


@pytest.fixture
async def burst(
    settings: Settings, hub_ctx: HubContext, redis: Redis, clean: None
) -> AsyncIterator[Burst]:
    assert settings.redis_url
    name = f"{settings.redis_namespace}:arq-exams-{secrets.token_hex(4)}"
    redis_settings = RedisSettings.from_dsn(settings.redis_url)
    pool = await create_pool(redis_settings, default_queue_name=name)
    push = PushSender(None)
    ctx = {"hub": hub_ctx, "push": push, "email": EmailSender(None, 25)}
    try:
        yield Burst(name, pool, redis_settings, ctx)
    finally:
        await push.aclose()
        await pool.aclose()
        leftovers = [k async for k in redis.scan_iter(match=f"arq:*{name}*", count=1000)]
        if leftovers:
            await redis.delete(*leftovers)


async def queued(redis: Redis, hub_ctx: HubContext, function: str) -> list[tuple[Any, ...]]:
    """The arguments of each job of `function` waiting in the hub's own queue."""
    found = []
    for job_id in await redis.zrange(hub_ctx.keys.job_queue, 0, -1):
        info = await Job(job_id.decode(), redis, _queue_name=hub_ctx.keys.job_queue).info()
        if info is not None and info.function == function:
            found.append(tuple(info.args))
    return found


def timed_out() -> float:
    """How many attempts this process has submitted at their deadline (its Prometheus counter)."""
    value = REGISTRY.get_sample_value("dreamseed_exam_events_total", {"event": "timed_out"})
    return value or 0.0


async def attempt_row(factory: Factory, attempt_id: str) -> dict[str, Any]:
    rows = await factory.fetch("SELECT * FROM attempts WHERE id = $1::uuid", attempt_id)
    return dict(rows[0])


async def cbt(
    api: httpx.AsyncClient, factory: Factory, limit_s: int = 60
) -> tuple[School, list[dict[str, Any]], dict[str, Any]]:
    s = await school(factory)
    items = await make_items(api, s.teacher, s.org, 3)
    return s, items, await make_exam(api, s.teacher, s.org, items, "cbt", time_limit_s=limit_s)


async def test_sweep_submits_overdue_attempt_as_of_its_deadline(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock, burst: Burst
) -> None:
    """Run late, the sweep submits at the deadline by 'deadline', scoring only timely answers."""
    s, items, exam = await cbt(api, factory)
    attempt = await start(api, s.students[0], exam)  # due at t + 60
    clock.advance(seconds=30)
    later = await start(api, s.students[1], exam)  # due at t + 90
    for item, choice in ((items[0], 1), (items[1], 0)):
        response = await answer(api, s.students[0], attempt["id"], item["id"], choice)
        assert response.status_code == 201, response.text
    clock.advance(seconds=31)
    late = await answer(api, s.students[0], attempt["id"], items[2]["id"], 1)
    assert error_of(late)["code"] == "deadline_passed"
    untouched = await attempt_row(factory, later["id"])
    clock.advance(seconds=28)  # the worker comes round at t + 89
    finished = timed_out()
    assert await burst.run("sweep_overdue_attempts") == 1
    assert timed_out() == finished + 1
    row = await attempt_row(factory, attempt["id"])
    assert row["status"] == "submitted" and row["finished_by"] == "deadline"
    assert row["finished_at"] == row["deadline_at"] == clock.now - timedelta(seconds=29)
    assert (row["answered"], row["score"], row["max_score"]) == (2, 1, 3)
    assert await attempt_row(factory, later["id"]) == untouched
    view = await api.get(f"/attempts/{attempt['id']}", headers=s.students[0].headers)
    assert view.json()["time_left_s"] == 0 and view.json()["score"] == 1


async def test_deadline_job_leaves_an_attempt_not_yet_due(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock, burst: Burst
) -> None:
    """The attempt's own deadline job, run a moment early, changes nothing."""
    s, _, exam = await cbt(api, factory)
    attempt = await start(api, s.students[0], exam)
    clock.advance(seconds=59.999)
    before, row = await factory.snapshot(), await attempt_row(factory, attempt["id"])
    assert await burst.run("submit_overdue_attempt", attempt["id"]) == 0
    assert await burst.run("sweep_overdue_attempts") == 0
    assert await factory.snapshot() == before
    assert await attempt_row(factory, attempt["id"]) == row


async def test_extended_attempt_outlives_its_first_deadline(
    api: httpx.AsyncClient,
    factory: Factory,
    clock: FrozenClock,
    burst: Burst,
    redis: Redis,
    hub_ctx: HubContext,
) -> None:
    """Extended, the attempt outlives the job queued at start until the new deadline passes."""
    s, items, exam = await cbt(api, factory)
    attempt = await start(api, s.students[0], exam)
    (first_job,) = await queued(redis, hub_ctx, "submit_overdue_attempt")
    assert first_job == (attempt["id"],)
    teacher = Actor(s.teacher.id, s.teacher.session_id)
    extended = await extend(
        hub_ctx, teacher, UUID(exam["id"]), Extend(attempt_id=attempt["id"], seconds=120)
    )
    new_deadline = extended["deadline_at"]
    started = (await attempt_row(factory, attempt["id"]))["started_at"]
    assert new_deadline - started == timedelta(seconds=180)
    assert await queued(redis, hub_ctx, "submit_overdue_attempt") == [first_job, first_job]
    clock.advance(seconds=61)
    assert await burst.run("submit_overdue_attempt", *first_job) == 0
    assert await burst.run("sweep_overdue_attempts") == 0
    response = await answer(api, s.students[0], attempt["id"], items[0]["id"], 1)
    assert response.status_code == 201, response.text
    clock.advance(seconds=120)
    assert await burst.run("submit_overdue_attempt", *first_job) == 1
    row = await attempt_row(factory, attempt["id"])
    assert (row["status"], row["finished_by"]) == ("submitted", "deadline")
    assert row["finished_at"] == row["deadline_at"] == new_deadline
    assert row["score"] == 1


async def test_running_the_jobs_again_changes_nothing(
    api: httpx.AsyncClient,
    factory: Factory,
    clock: FrozenClock,
    burst: Burst,
) -> None:
    """A second sweep and a late per-attempt job find the attempt submitted and do nothing."""
    s, items, exam = await cbt(api, factory)
    attempt = await start(api, s.students[0], exam)
    await answer(api, s.students[0], attempt["id"], items[0]["id"], 1)
    clock.advance(seconds=60)
    assert await burst.run("sweep_overdue_attempts") == 1
    before, row, finished = (
        await factory.snapshot(),
        await attempt_row(factory, attempt["id"]),
        timed_out(),
    )
    clock.advance(seconds=60)
    assert await burst.run("sweep_overdue_attempts") == 0
    assert await burst.run("submit_overdue_attempt", attempt["id"]) == 0
    assert await factory.snapshot() == before
    assert await attempt_row(factory, attempt["id"]) == row
    assert timed_out() == finished


async def test_parent_is_told_the_result(
    api: httpx.AsyncClient,
    factory: Factory,
    clock: FrozenClock,
    burst: Burst,
    redis: Redis,
    hub_ctx: HubContext,
) -> None:
    """A deadline submission queues one exam_result alert for the linked parent, who gets it."""
    s, items, exam = await cbt(api, factory)
    student = s.students[0]
    parent, stranger = await factory.user(), await factory.user()
    for who, status in ((parent, "approved"), (stranger, "pending")):
        await factory.fetch(
            """INSERT INTO parent_links (org_id, zone_id, parent_id, student_id, status,
                                         requested_at, expires_at)
               VALUES ($1, $2, $3, $4, $5, now(), now() + interval '7 days')""",
            s.org.id,
            s.org.zone_id,
            who.id,
            student.id,
            status,
        )
    attempt = await start(api, student, exam)
    await answer(api, student, attempt["id"], items[0]["id"], 1)
    clock.advance(seconds=60)
    assert await queued(redis, hub_ctx, "notify_users") == []
    assert await burst.run("sweep_overdue_attempts") == 1
    (alert,) = await queued(redis, hub_ctx, "notify_users")
    user_ids, kind, _title, body, data, dedup_key, urgent = alert
    assert (user_ids, kind, urgent) == ([str(parent.id)], "exam_result", False)
    assert data == {"exam_id": exam["id"], "attempt_id": attempt["id"]}
    assert "1점 / 3점" in body
    await burst.run("notify_users", *alert)
    rows = await factory.fetch(
        "SELECT user_id, kind, dedup_key, data->>'attempt_id' AS attempt FROM notifications"
    )
    assert [tuple(r) for r in rows] == [(parent.id, "exam_result", dedup_key, attempt["id"])]


async def test_sweep_retries_a_follow_up_that_failed(
    api: httpx.AsyncClient,
    factory: Factory,
    burst: Burst,
    redis: Redis,
    hub_ctx: HubContext,
) -> None:
    """A submission committed but never followed up (the hub died before telling anyone) is
    followed up by the sweep once its grace has passed: the parent is told, and only once."""
    s, _items, exam = await cbt(api, factory)
    student, parent = s.students[0], await factory.user()
    await factory.fetch(
        """INSERT INTO parent_links (org_id, zone_id, parent_id, student_id, status,
                                     requested_at, expires_at)
           VALUES ($1, $2, $3, $4, 'approved', now(), now() + interval '7 days')""",
        s.org.id,
        s.org.zone_id,
        parent.id,
        student.id,
    )
    attempt = await start(api, student, exam)
    # As if the hub had committed the submission a minute ago and died before telling anyone.
    await factory.fetch(
        """UPDATE attempts SET status = 'submitted', finished_at = started_at,
                  finished_by = 'student', submitted_at = now() - interval '1 minute'
           WHERE id = $1::uuid""",
        attempt["id"],
    )
    assert await queued(redis, hub_ctx, "notify_users") == []
    assert await burst.run("sweep_overdue_attempts") == 0
    (alert,) = await queued(redis, hub_ctx, "notify_users")
    assert alert[1] == "exam_result" and alert[0] == [str(parent.id)]
    assert (await attempt_row(factory, attempt["id"]))["followed_up_at"] is not None
    assert await burst.run("sweep_overdue_attempts") == 0
    assert len(await queued(redis, hub_ctx, "notify_users")) == 1


async def test_a_failed_follow_up_never_fails_the_submission(
    api: httpx.AsyncClient,
    factory: Factory,
    burst: Burst,
    hub_ctx: HubContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis down while a submission is told: the student still gets their 200, the attempt
    stays submitted and untold, and the sweep tells it once the grace has passed."""
    s, _items, exam = await cbt(api, factory)
    attempt = await start(api, s.students[0], exam)

    async def bus_down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("redis is down")

    with monkeypatch.context() as patch:
        patch.setattr(hub_ctx.bus, "to_room", bus_down)
        submitted = await api.post(f"/exams/{exam['id']}/submit", headers=s.students[0].headers)
    assert submitted.status_code == 200, submitted.text
    row = await attempt_row(factory, attempt["id"])
    assert row["status"] == "submitted" and row["followed_up_at"] is None
    await factory.fetch(
        "UPDATE attempts SET submitted_at = now() - interval '1 minute' WHERE id = $1::uuid",
        attempt["id"],
    )
    assert await burst.run("sweep_overdue_attempts") == 0
    assert (await attempt_row(factory, attempt["id"]))["followed_up_at"] is not None
