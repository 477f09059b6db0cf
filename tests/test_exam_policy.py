"""The exam policy: a student sitting an exam is refused the AI tutor and chat with other
students of the same exam, over REST and Socket.IO; teachers and other classes stay reachable."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from hub.context import HubContext
from hub.errors import DomainError, ErrorCode
from hub.exams import policy
from schema.models.accounts import OrgRole
from tests.exam_support import make_class, make_exam, make_items, start
from tests.sockets import Client
from tests.support import Factory, FrozenClock, Org, User, error_of, post

Connect = Callable[[User], Awaitable[Client]]


def peer(*roles: OrgRole, in_audience: bool = True) -> policy.Peer:
    return policy.Peer(uuid4(), uuid4(), "Midterm", frozenset(roles), in_audience)


# --- pure rules ------------------------------------------------------------------------------


def test_student_of_the_audience_sits_the_same_exam() -> None:
    """A student of the exam's audience counts as sitting it; one outside the audience not."""
    assert policy.sits_same_exam(peer(OrgRole.STUDENT))
    assert not policy.sits_same_exam(peer(OrgRole.STUDENT, in_audience=False))


@pytest.mark.parametrize(
    "role", [OrgRole.TEACHER, OrgRole.TUTOR, OrgRole.ORG_ADMIN, OrgRole.PARENT]
)
def test_staff_tutors_and_parents_stay_reachable(role: OrgRole) -> None:
    """Teachers, tutors, org admins and parents may be messaged during an exam."""
    assert policy.may_message_during_exam([peer(role)])


def test_nobody_else_in_the_conversation_allows_the_message() -> None:
    """A conversation with no other participant (everyone left) refuses nothing."""
    assert policy.message_refusal([]) is None


def test_group_with_teacher_and_classmate_is_refused() -> None:
    """One classmate among the recipients is enough to refuse, and is the one named."""
    classmate = peer(OrgRole.STUDENT)
    peers = [peer(OrgRole.TEACHER), peer(OrgRole.STUDENT, in_audience=False), classmate]
    assert policy.message_refusal(peers) == classmate
    assert not policy.may_message_during_exam(peers)


def test_tutor_closed_during_any_attempt() -> None:
    """The AI tutor is open with no attempt in progress and closed with one or more."""
    assert policy.may_use_tutor(0)
    assert not policy.may_use_tutor(1) and not policy.may_use_tutor(3)


def test_sitting_sql_takes_parameter_numbers() -> None:
    """The folded-in SQL check names the parameters it was given, nothing else."""
    sql = policy.sitting_sql(1, 5)
    assert "student_id = $1" in sql and "$5::timestamptz" in sql and "$USER" not in sql


# --- against the database and the running hub ------------------------------------------------


@dataclass
class ExamDay:
    org: Org
    teacher: User
    sitting: User  # started the exam
    classmate: User  # same class, has not started
    other_class: User  # a student of the school, outside the exam's class
    exam: dict[str, Any]
    attempt: dict[str, Any]


async def exam_day(
    api: httpx.AsyncClient, factory: Factory, *, whole_school: bool = False, **extra: Any
) -> ExamDay:
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    sitting, classmate, other = [await factory.user("student", org) for _ in range(3)]
    if not whole_school:
        extra["class_id"] = str(await make_class(factory, org, [sitting, classmate]))
    items = await make_items(api, teacher, org, 2)
    exam = await make_exam(api, teacher, org, items, extra.pop("mode", "fixed"), **extra)
    attempt = await start(api, sitting, exam)
    return ExamDay(org, teacher, sitting, classmate, other, exam, attempt)


async def direct(factory: Factory, org: Org, a: User, b: User) -> str:
    return str(await factory.conversation("direct", org, [], [a, b]))


async def test_direct_message_to_classmate_refused_and_nothing_stored(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """REST: a direct message to a classmate of the same exam is 403 exam_in_progress, unstored."""
    day = await exam_day(api, factory)
    conv = await direct(factory, day.org, day.sitting, day.classmate)
    before = await factory.snapshot()
    response = await post(api, day.sitting, conv, "답이 뭐야?")
    assert response.status_code == 403, response.text
    error = error_of(response)
    assert error["code"] == "exam_in_progress" and error["exam_id"] == day.exam["id"]
    assert await factory.snapshot() == before


async def test_group_with_teacher_and_classmates_refused(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A group holding the teacher and a classmate is refused: the message would reach them."""
    day = await exam_day(api, factory)
    conv = await factory.conversation("group", day.org, [day.teacher], [day.sitting, day.classmate])
    response = await post(api, day.sitting, str(conv), "hello")
    assert response.status_code == 403 and error_of(response)["code"] == "exam_in_progress"
    assert await factory.fetchval("SELECT count(*) FROM messages") == 0


async def test_teacher_stays_reachable(api: httpx.AsyncClient, factory: Factory) -> None:
    """The student sitting the exam may message the teacher directly."""
    day = await exam_day(api, factory)
    conv = await direct(factory, day.org, day.sitting, day.teacher)
    response = await post(api, day.sitting, conv, "선생님, 2번 문제가 이상해요")
    assert response.status_code == 201, response.text


async def test_student_outside_the_exam_audience_stays_reachable(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A student of another class of the school does not sit this exam: reachable."""
    day = await exam_day(api, factory)
    conv = await direct(factory, day.org, day.sitting, day.other_class)
    response = await post(api, day.sitting, conv, "hi")
    assert response.status_code == 201, response.text


async def test_whole_school_exam_refuses_every_student(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """An exam without a class is for every student of the school: all are refused."""
    day = await exam_day(api, factory, whole_school=True)
    conv = await direct(factory, day.org, day.sitting, day.other_class)
    response = await post(api, day.sitting, conv, "hi")
    assert response.status_code == 403 and error_of(response)["code"] == "exam_in_progress"


async def test_classmate_allowed_again_after_submitting(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Once the attempt is handed in, the classmate is reachable again."""
    day = await exam_day(api, factory)
    conv = await direct(factory, day.org, day.sitting, day.classmate)
    assert (await post(api, day.sitting, conv, "before")).status_code == 403
    done = await api.post(f"/exams/{day.exam['id']}/submit", headers=day.sitting.headers)
    assert done.status_code == 200, done.text
    response = await post(api, day.sitting, conv, "after")
    assert response.status_code == 201, response.text


async def test_attempt_past_its_deadline_no_longer_blocks(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock
) -> None:
    """When time is up the student cannot answer any more, so the chat opens again."""
    day = await exam_day(api, factory, mode="cbt", time_limit_s=60)
    conv = await direct(factory, day.org, day.sitting, day.classmate)
    assert (await post(api, day.sitting, conv, "during")).status_code == 403
    clock.advance(seconds=61)
    response = await post(api, day.sitting, conv, "after time")
    assert response.status_code == 201, response.text


async def test_socket_send_refused_with_error_ack(
    api: httpx.AsyncClient, connect: Connect, factory: Factory
) -> None:
    """message.send to a classmate acks exam_in_progress; to the teacher it is delivered."""
    day = await exam_day(api, factory)
    to_classmate = await direct(factory, day.org, day.sitting, day.classmate)
    to_teacher = await direct(factory, day.org, day.sitting, day.teacher)
    client = await connect(day.sitting)

    def payload(conv: str) -> dict[str, Any]:
        return {"conversation_id": conv, "client_msg_id": uuid.uuid4().hex, "content": "hi"}

    refused = await client.call("message.send", payload(to_classmate))
    assert refused["error"]["code"] == "exam_in_progress", refused
    accepted = await client.call("message.send", payload(to_teacher))
    assert "error" not in accepted and accepted["seq"] == 1
    assert await factory.fetchval("SELECT count(*) FROM messages") == 1


async def test_edit_follows_the_same_rule(api: httpx.AsyncClient, factory: Factory) -> None:
    """A message sent to a classmate before the exam cannot be edited during it."""
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    sitting, classmate = await factory.user("student", org), await factory.user("student", org)
    conv = await direct(factory, org, sitting, classmate)
    sent = await post(api, sitting, conv, "see you at the exam")
    assert sent.status_code == 201, sent.text
    exam = await make_exam(api, teacher, org, await make_items(api, teacher, org, 1), "fixed")
    await start(api, sitting, exam)
    edit = await api.put(
        f"/messages/{sent.json()['id']}", json={"content": "it's b"}, headers=sitting.headers
    )
    assert edit.status_code == 403 and error_of(edit)["code"] == "exam_in_progress"
    content = await factory.fetchval("SELECT content FROM messages")
    assert content == "see you at the exam"


async def test_tutor_refused_during_attempt_and_allowed_after(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """ensure_may_use_tutor raises exam_in_progress while an attempt runs, passes after submit."""
    day = await exam_day(api, factory)
    async with hub_ctx.db.acting(day.sitting.id) as conn:
        assert await policy.active_exam_ids(conn, day.sitting.id) == [UUID(day.exam["id"])]
        with pytest.raises(DomainError) as refused:
            await policy.ensure_may_use_tutor(conn, day.sitting.id)
    assert refused.value.code == ErrorCode.EXAM_IN_PROGRESS
    async with hub_ctx.db.acting(day.classmate.id) as conn:
        await policy.ensure_may_use_tutor(conn, day.classmate.id)
    done = await api.post(f"/exams/{day.exam['id']}/submit", headers=day.sitting.headers)
    assert done.status_code == 200, done.text
    async with hub_ctx.db.acting(day.sitting.id) as conn:
        await policy.ensure_may_use_tutor(conn, day.sitting.id)
        assert await policy.active_exam_ids(conn, day.sitting.id) == []


# --- the other way: reaching a student who sits an exam --------------------------------------


async def _submit(api: httpx.AsyncClient, student: User, exam: dict[str, Any]) -> None:
    done = await api.post(f"/exams/{exam['id']}/submit", headers=student.headers)
    assert done.status_code == 200, done.text


def _refused_as_recipient(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    error = error_of(response)
    assert error["code"] == "exam_in_progress" and "exam_id" not in error
    assert "recipient of this message is sitting an exam" in error["message"]


def test_peer_exams_sql_takes_parameter_numbers() -> None:
    """The folded-in SQL call names the parameters it was given, in the function's order."""
    sql = policy.peer_exams_sql(2, 1, 5)
    assert sql == "app_conversation_sitting_exams($2, $1, $5::timestamptz)"


async def test_classmate_not_started_cannot_message_sitting_student(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """REST: a classmate who has not started is refused a direct message to the sitting student."""
    day = await exam_day(api, factory)
    conv = await direct(factory, day.org, day.classmate, day.sitting)
    before = await factory.snapshot()
    _refused_as_recipient(await post(api, day.classmate, conv, "정답은 2번"))
    assert await factory.snapshot() == before


async def test_classmate_who_submitted_cannot_message_sitting_student(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A classmate who already handed the exam in still cannot reach one who sits it."""
    day = await exam_day(api, factory)
    await start(api, day.classmate, day.exam)
    await _submit(api, day.classmate, day.exam)
    conv = await direct(factory, day.org, day.classmate, day.sitting)
    _refused_as_recipient(await post(api, day.classmate, conv, "정답은 2번"))
    assert await factory.fetchval("SELECT count(*) FROM messages") == 0


async def test_group_with_sitting_student_refused_for_classmate(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A classmate's message to a group holding the sitting student, the teacher and others."""
    day = await exam_day(api, factory)
    members = [day.sitting, day.classmate, day.other_class]
    conv = str(await factory.conversation("group", day.org, [day.teacher], members))
    _refused_as_recipient(await post(api, day.classmate, conv, "hello"))
    assert await factory.fetchval("SELECT count(*) FROM messages") == 0


@pytest.mark.parametrize("role", ["teacher", "parent", "tutor", "org_admin"])
async def test_staff_and_parents_reach_the_sitting_student(
    api: httpx.AsyncClient, factory: Factory, role: str
) -> None:
    """The teacher, a parent, a tutor and an org admin may message the student sitting it."""
    day = await exam_day(api, factory)
    sender = day.teacher if role == "teacher" else await factory.user(role, day.org)
    conv = await direct(factory, day.org, sender, day.sitting)
    response = await post(api, sender, conv, "힘내!")
    assert response.status_code == 201, response.text


async def test_student_outside_the_audience_reaches_the_sitting_student(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A student of another class, or only of another school, does not sit it: allowed."""
    day = await exam_day(api, factory)
    conv = await direct(factory, day.org, day.other_class, day.sitting)
    response = await post(api, day.other_class, conv, "hi")
    assert response.status_code == 201, response.text
    # The sitting student also attends an academy; a student there only is no classmate.
    academy = await factory.org()
    await factory.fetch(
        "INSERT INTO memberships (org_id, zone_id, user_id, role) VALUES ($1, $2, $3, 'student')",
        academy.id,
        academy.zone_id,
        day.sitting.id,
    )
    elsewhere = await factory.user("student", academy)
    conv = await direct(factory, academy, elsewhere, day.sitting)
    response = await post(api, elsewhere, conv, "hi")
    assert response.status_code == 201, response.text


async def test_whole_school_exam_refuses_every_student_sender(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """An exam without a class is every student's: any student of the school is refused."""
    day = await exam_day(api, factory, whole_school=True)
    conv = await direct(factory, day.org, day.other_class, day.sitting)
    _refused_as_recipient(await post(api, day.other_class, conv, "hi"))


async def test_classmate_reaches_the_student_after_submitting(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Once the sitting student hands the exam in, the classmate's message goes."""
    day = await exam_day(api, factory)
    conv = await direct(factory, day.org, day.classmate, day.sitting)
    _refused_as_recipient(await post(api, day.classmate, conv, "before"))
    await _submit(api, day.sitting, day.exam)
    response = await post(api, day.classmate, conv, "after")
    assert response.status_code == 201, response.text


async def test_classmate_reaches_the_student_once_time_is_up(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock
) -> None:
    """Past the deadline (by the app clock), unswept, the classmate's message goes."""
    day = await exam_day(api, factory, mode="cbt", time_limit_s=60)
    conv = await direct(factory, day.org, day.classmate, day.sitting)
    _refused_as_recipient(await post(api, day.classmate, conv, "during"))
    clock.advance(seconds=61)
    response = await post(api, day.classmate, conv, "after time")
    assert response.status_code == 201, response.text


async def test_socket_send_to_sitting_student_refused_with_error_ack(
    api: httpx.AsyncClient, connect: Connect, factory: Factory
) -> None:
    """message.send from a classmate to the sitting student acks exam_in_progress; none stored."""
    day = await exam_day(api, factory)
    to_sitting = await direct(factory, day.org, day.classmate, day.sitting)
    to_teacher = await direct(factory, day.org, day.classmate, day.teacher)
    client = await connect(day.classmate)

    def payload(conv: str) -> dict[str, Any]:
        return {"conversation_id": conv, "client_msg_id": uuid.uuid4().hex, "content": "2번"}

    refused = await client.call("message.send", payload(to_sitting))
    assert refused["error"]["code"] == "exam_in_progress", refused
    assert "exam_id" not in refused["error"]
    accepted = await client.call("message.send", payload(to_teacher))
    assert "error" not in accepted and accepted["seq"] == 1
    assert await factory.fetchval("SELECT count(*) FROM messages") == 1


async def test_edit_to_sitting_student_refused(api: httpx.AsyncClient, factory: Factory) -> None:
    """A classmate's message from before the exam cannot be edited while the other sits it."""
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    sitting, classmate = await factory.user("student", org), await factory.user("student", org)
    conv = await direct(factory, org, classmate, sitting)
    sent = await post(api, classmate, conv, "see you at the exam")
    assert sent.status_code == 201, sent.text
    exam = await make_exam(api, teacher, org, await make_items(api, teacher, org, 1), "fixed")
    await start(api, sitting, exam)
    edit = await api.put(
        f"/messages/{sent.json()['id']}", json={"content": "it's b"}, headers=classmate.headers
    )
    _refused_as_recipient(edit)
    assert await factory.fetchval("SELECT content FROM messages") == "see you at the exam"


async def test_send_facts_cross_rls_for_participants_only(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """The classmate cannot read the attempt, yet learns the exam id; a non-participant not."""
    day = await exam_day(api, factory)
    conv = UUID(await direct(factory, day.org, day.classmate, day.sitting))
    async with hub_ctx.db.acting(day.classmate.id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM attempts") == 0
        facts = await policy.send_facts(conn, day.classmate.id, conv)
    assert facts == policy.SendFacts(False, [UUID(day.exam["id"])])
    async with hub_ctx.db.acting(day.other_class.id) as conn:
        outsider = await policy.send_facts(conn, day.other_class.id, conv)
    assert outsider == policy.SendFacts(False, ())
