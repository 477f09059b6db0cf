"""Typing indicators and read receipts obey the exam rule of messages: none pass between a
student sitting an exam and the classmates of it; teachers still see and are seen."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from tests.sockets import Client
from tests.support import Factory, User, post
from tests.test_exam_policy import exam_day

Connect = Callable[[User], Awaitable[Client]]


async def test_typing_and_reading_do_not_reach_classmates_mid_exam(
    api: httpx.AsyncClient, factory: Factory, connect: Connect
) -> None:
    """In a group with the teacher and a classmate, the sitting student's typing is refused and
    their read receipt reaches only their own devices; the classmate's typing is refused too.
    The teacher's typing and another class's student reading, sent after, are the first such
    events anyone gets."""
    day = await exam_day(api, factory)
    conv = str(
        await factory.conversation(
            "group", day.org, [day.teacher], [day.sitting, day.classmate, day.other_class]
        )
    )
    assert (await post(api, day.teacher, conv, "시험 끝나고 교실로 모이세요")).status_code == 201
    sitting, classmate, teacher, other = [
        await connect(u) for u in (day.sitting, day.classmate, day.teacher, day.other_class)
    ]
    typing = {"conversation_id": conv, "typing": True}
    refused = await sitting.call("message.typing", typing)
    assert refused["error"]["code"] == "exam_in_progress"
    assert (await classmate.call("message.typing", typing))["error"]["code"] == "exam_in_progress"
    read = await sitting.call("message.read", {"conversation_id": conv, "seq": 1})
    assert read["seq"] == 1 and "error" not in read
    assert (await sitting.next("message.read"))["user_id"] == str(day.sitting.id)

    assert await teacher.call("message.typing", typing) == {"ok": True}
    for client in (sitting, classmate):
        assert (await client.next("message.typing"))["user_id"] == str(day.teacher.id)
    await other.call("message.read", {"conversation_id": conv, "seq": 1})
    for client in (classmate, teacher):
        assert (await client.next("message.read"))["user_id"] == str(day.other_class.id)
