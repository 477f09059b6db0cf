"""Parent-link notices come from the notification templates, in each person's language."""

from __future__ import annotations

from typing import Any

import httpx

from hub.context import HubContext
from hub.jobs import ArqJobs
from tests.support import Factory, FrozenClock


async def _notices(hub_ctx: HubContext) -> dict[str, tuple[str, str]]:
    """Queued notify_users jobs: the one recipient's id -> (title, body)."""
    assert isinstance(hub_ctx.jobs, ArqJobs)
    jobs = await hub_ctx.jobs.pool.queued_jobs(queue_name=hub_ctx.keys.job_queue)
    return {j.args[0][0]: (j.args[2], j.args[3]) for j in jobs if j.function == "notify_users"}


async def test_each_side_is_told_in_their_own_language(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext, clock: FrozenClock
) -> None:
    """An English-speaking student hears the request in English, the Korean parent the
    approval in Korean; both name the other person, as the templates do."""
    org = await factory.org()
    parent, student = await factory.user(), await factory.user("student", org)
    await factory.fetch(
        "UPDATE users SET language = 'en', display_name = 'Minjun' WHERE id = $1", student.id
    )
    await factory.fetch("UPDATE users SET display_name = '김엄마' WHERE id = $1", parent.id)
    made = await api.post(
        "/parent/link-student", headers=parent.headers, json={"student_email": student.email}
    )
    assert made.status_code == 202, made.text
    link_id = await factory.fetchval("SELECT id FROM parent_links")
    title, body = (await _notices(hub_ctx))[str(student.id)]
    assert title == "김엄마 asked to be linked to you as a parent"
    assert body.startswith("Hello Minjun, 김엄마 (") and parent.email in body
    approved = await api.post(f"/student/approve-parent/{link_id}", headers=student.headers)
    assert approved.status_code == 200, approved.text
    notices: dict[str, Any] = await _notices(hub_ctx)
    assert notices[str(parent.id)] == (
        "Minjun 학생이 보호자 연결을 수락했습니다",
        "이제 Minjun 학생의 학교 소식과 시험 결과를 함께 받아 볼 수 있습니다.",
    )
