"""Parent alerts about an exam, from a finished attempt through the real arq worker to an FCM
stand-in and an aiosmtpd server: each parent reads them in their own language, once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import time
from typing import Any
from uuid import UUID

import httpx
import pytest
from arq import Retry
from arq.connections import RedisSettings
from arq.jobs import Job
from arq.worker import Worker

from hub.context import HubContext
from hub.exams import alerts
from hub.notify.email import EmailSender
from hub.settings import Settings
from tests.burst import run_burst
from tests.exam_support import School, answer, make_exam, make_items, school, start
from tests.fcm_standin import FcmStandIn
from tests.support import Factory, FrozenClock, User
from tests.test_email import Recorder, smtpd  # noqa: F401 - the SMTP server fixture
from workers.notify_jobs import notify_users

KO_RESULT = "이민준 학생의 ‘수학 단원평가’ 결과: 2점 / 3점"
EN_RESULT = "이민준 scored 2 out of 3 on “수학 단원평가”"


@dataclass
class Sitting:
    school: School
    student: User
    exam: dict[str, Any]
    attempt: dict[str, Any]


@pytest.fixture(scope="module")
def fcm() -> Iterator[FcmStandIn]:
    standin = FcmStandIn().start()
    yield standin
    standin.stop()


def _mailer(smtp: tuple[Recorder, int]) -> EmailSender:
    return EmailSender("127.0.0.1", smtp[1], timeout=5)


async def _run_worker(settings: Settings, ctx: dict[str, Any]) -> Worker:
    """Run the product's jobs waiting in the hub's queue with a burst worker."""
    worker = await run_burst(
        RedisSettings.from_dsn(settings.redis_dsn), ctx["hub"].keys.job_queue, ctx
    )
    assert (worker.jobs_failed, worker.jobs_retried) == (0, 0)
    return worker


async def _queued(hub_ctx: HubContext) -> list[tuple[Any, ...]]:
    """The arguments of each notify_users job waiting in the hub's queue."""
    found = []
    for job_id in await hub_ctx.redis.zrange(hub_ctx.keys.job_queue, 0, -1):
        info = await Job(job_id.decode(), hub_ctx.redis, _queue_name=hub_ctx.keys.job_queue).info()
        if info is not None and info.function == "notify_users":
            found.append(tuple(info.args))
    return found


async def _sitting(api: httpx.AsyncClient, factory: Factory) -> Sitting:
    """A student named 이민준 in an attempt at a three-question fixed exam, '수학 단원평가'."""
    s = await school(factory, students=1)
    student = s.students[0]
    await factory.fetch("UPDATE users SET display_name = '이민준' WHERE id = $1", student.id)
    items = await make_items(api, s.teacher, s.org, 3, answer=1)
    exam = await make_exam(api, s.teacher, s.org, items, "fixed", title="수학 단원평가")
    attempt = await start(api, student, exam)
    for item, choice in zip(items, (1, 1, 2), strict=True):
        response = await answer(api, student, attempt["id"], item["id"], choice)
        assert response.status_code == 201, response.text
    return Sitting(s, student, exam, attempt)


async def _submit(api: httpx.AsyncClient, sit: Sitting) -> None:
    response = await api.post(f"/exams/{sit.exam['id']}/submit", headers=sit.student.headers)
    assert response.status_code == 200, response.text


async def _parent(factory: Factory, sit: Sitting, language: str, token: str) -> User:
    """A parent with one device, linked (approved) to the sitting's student."""
    parent = await factory.user()
    await factory.fetch("UPDATE users SET language = $2 WHERE id = $1", parent.id, language)
    await factory.fetch(
        """INSERT INTO parent_links (org_id, zone_id, parent_id, student_id, status,
                                     requested_at, expires_at)
           VALUES ($1, $2, $3, $4, 'approved', now(), now() + interval '7 days')""",
        sit.school.org.id,
        sit.school.org.zone_id,
        parent.id,
        sit.student.id,
    )
    await factory.fetch(
        "INSERT INTO devices (token, user_id, platform) VALUES ($1, $2, 'android')",
        token + "-" + "x" * 20,
        parent.id,
    )
    return parent


def _pushed(fcm: FcmStandIn) -> dict[str, list[tuple[str, str]]]:
    """(title, body) of the pushes each device token got."""
    found: dict[str, list[tuple[str, str]]] = {}
    for m in fcm.messages:
        note = m["message"]["notification"]
        found.setdefault(m["message"]["token"][:-21], []).append((note["title"], note["body"]))
    return found


async def _rows(factory: Factory) -> dict[UUID, list[tuple[Any, ...]]]:
    rows = await factory.fetch(
        "SELECT user_id, kind, title, body, urgent, emailed_at IS NOT NULL AS emailed "
        "FROM notifications ORDER BY created_at"
    )
    found: dict[UUID, list[tuple[Any, ...]]] = {}
    for r in rows:
        found.setdefault(r["user_id"], []).append(tuple(r)[1:])
    return found


def _text(recorder: Recorder, to: str) -> tuple[str, str]:
    """Subject and plain text of the one e-mail `to` got."""
    (mail,) = [r for r in recorder.received if r.rcpt_tos == [to]]
    body = mail.message.get_body(("plain",))
    assert body is not None
    return str(mail.message["Subject"]), str(body.get_content())


async def test_each_parent_gets_one_result_push_in_their_language(
    api: httpx.AsyncClient,
    factory: Factory,
    fcm: FcmStandIn,
    worker_ctx: dict[str, Any],
    settings: Settings,
    hub_ctx: HubContext,
) -> None:
    """A Korean and an English parent each get one result notification and push in their
    language (one job per language); running the jobs again tells nobody twice."""
    sit = await _sitting(api, factory)
    ko = await _parent(factory, sit, "ko", "tok-ko")
    en = await _parent(factory, sit, "en", "tok-en")
    await _submit(api, sit)
    jobs = await _queued(hub_ctx)
    assert sorted(len(j[0]) for j in jobs) == [1, 1]  # one job per language group
    worker = await _run_worker(settings, worker_ctx)
    assert worker.jobs_complete == 2
    assert _pushed(fcm) == {
        "tok-ko": [("시험 결과: 수학 단원평가", KO_RESULT)],
        "tok-en": [("Exam result: 수학 단원평가", EN_RESULT)],
    }
    for args in jobs:
        await notify_users(worker_ctx, *args)
    assert len(fcm.messages) == 2
    assert await _rows(factory) == {
        ko.id: [("exam_result", "시험 결과: 수학 단원평가", KO_RESULT, False, False)],
        en.id: [("exam_result", "Exam result: 수학 단원평가", EN_RESULT, False, False)],
    }


async def test_result_email_arrives_once_in_parent_language(
    api: httpx.AsyncClient,
    factory: Factory,
    worker_ctx: dict[str, Any],
    settings: Settings,
    hub_ctx: HubContext,
    smtpd: tuple[Recorder, int],  # noqa: F811
) -> None:
    """Each parent gets one result e-mail in their language with the score and the results
    link; running the jobs again sends none."""
    recorder, _ = smtpd
    sit = await _sitting(api, factory)
    ko = await _parent(factory, sit, "ko", "tok-ko")
    en = await _parent(factory, sit, "en", "tok-en")
    await _submit(api, sit)
    jobs = await _queued(hub_ctx)
    ctx = {**worker_ctx, "email": _mailer(smtpd)}
    await _run_worker(settings, ctx)
    link = f"{settings.public_url.rstrip('/')}/app/exams/{sit.exam['id']}/results"
    subject, text = _text(recorder, ko.email)
    assert subject == "[DreamSeed] 시험 결과: 수학 단원평가 (이민준)"
    assert "이민준 학생의 ‘수학 단원평가’ 결과는 2점 / 3점입니다." in text and link in text
    subject, text = _text(recorder, en.email)
    assert subject == "[DreamSeed] Exam result: 수학 단원평가 (이민준)"
    assert "이민준 scored 2 out of 3 on “수학 단원평가”." in text and link in text
    for args in jobs:
        await notify_users(ctx, *args)
    assert len(recorder.received) == 2
    emailed = await factory.fetchval(
        "SELECT count(*) FROM notifications WHERE emailed_at IS NOT NULL"
    )
    assert emailed == 2


async def test_parent_who_turned_email_off_gets_the_push_only(
    api: httpx.AsyncClient,
    factory: Factory,
    fcm: FcmStandIn,
    worker_ctx: dict[str, Any],
    settings: Settings,
    smtpd: tuple[Recorder, int],  # noqa: F811
) -> None:
    """A parent with e-mail off is pushed but not mailed; one with no preferences is mailed."""
    recorder, _ = smtpd
    sit = await _sitting(api, factory)
    quiet = await _parent(factory, sit, "ko", "tok-off")
    default = await _parent(factory, sit, "ko", "tok-default")
    await factory.fetch(
        "INSERT INTO notification_preferences (user_id, email_digest) VALUES ($1, false)",
        quiet.id,
    )
    await _submit(api, sit)
    await _run_worker(settings, {**worker_ctx, "email": _mailer(smtpd)})
    assert sorted(_pushed(fcm)) == ["tok-default", "tok-off"]
    assert [r.rcpt_tos for r in recorder.received] == [[default.email]]
    rows = await _rows(factory)
    assert rows[quiet.id] == [("exam_result", "시험 결과: 수학 단원평가", KO_RESULT, False, False)]


async def test_temporary_email_refusal_retries_the_email_not_the_push(
    api: httpx.AsyncClient,
    factory: Factory,
    fcm: FcmStandIn,
    worker_ctx: dict[str, Any],
    hub_ctx: HubContext,
    smtpd: tuple[Recorder, int],  # noqa: F811
) -> None:
    """A 4xx from the mail server makes the job retry; the retry mails once and pushes nothing
    again."""
    recorder, _ = smtpd
    sit = await _sitting(api, factory)
    parent = await _parent(factory, sit, "en", "tok-en")
    recorder.rcpt_replies[parent.email] = "451 4.3.0 try again later"
    await _submit(api, sit)
    (job,) = await _queued(hub_ctx)
    ctx = {**worker_ctx, "email": _mailer(smtpd)}
    with pytest.raises(Retry):
        await notify_users(ctx, *job)
    del recorder.rcpt_replies[parent.email]
    await notify_users({**ctx, "job_try": 2}, *job)
    assert [r.rcpt_tos for r in recorder.received] == [[parent.email]]
    assert len(fcm.messages) == 1


async def test_proctor_flag_alert_is_urgent_and_in_parent_language(
    api: httpx.AsyncClient,
    factory: Factory,
    fcm: FcmStandIn,
    worker_ctx: dict[str, Any],
    settings: Settings,
    hub_ctx: HubContext,
    clock: FrozenClock,
) -> None:
    """A serious flag reaches each parent in their language through quiet hours, as something
    for a teacher to look at, never as cheating."""
    sit = await _sitting(api, factory)
    ko = await _parent(factory, sit, "ko", "tok-ko")
    en = await _parent(factory, sit, "en", "tok-en")
    for parent in (ko, en):
        await factory.fetch("UPDATE users SET timezone = 'UTC' WHERE id = $1", parent.id)
        await factory.fetch(
            "INSERT INTO notification_preferences (user_id, quiet_start, quiet_end) "
            "VALUES ($1, $2, $3)",
            parent.id,
            time((clock.now.hour - 1) % 24),
            time((clock.now.hour + 2) % 24),
        )
    await alerts.proctor_flag(
        hub_ctx,
        attempt_id=UUID(sit.attempt["id"]),
        exam_id=UUID(sit.exam["id"]),
        student_id=sit.student.id,
        exam_title="수학 단원평가",
        flag_kind="devtools_opened",
        flag_id=7,
    )
    await _run_worker(settings, worker_ctx)
    ko_text = (
        "시험 감독 알림: 수학 단원평가",
        "이민준 학생의 ‘수학 단원평가’ 시험 중 선생님의 확인이 필요한 일이 있었습니다.",
    )
    en_text = (
        "Exam notice: 수학 단원평가",
        "Something during 이민준's exam “수학 단원평가” needs a teacher's look.",
    )
    assert _pushed(fcm) == {"tok-ko": [ko_text], "tok-en": [en_text]}
    assert await _rows(factory) == {
        ko.id: [("proctor_flag", *ko_text, True, False)],
        en.id: [("proctor_flag", *en_text, True, False)],
    }
    for title, body in (ko_text, en_text):
        assert not any(word in title + body.lower() for word in ("부정", "cheat"))
    assert {m["message"]["data"]["flag"] for m in fcm.messages} == {"devtools_opened"}
