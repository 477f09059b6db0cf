"""The messenger over REST: conversations, sending, history, edits, receipts, participants."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx

from hub.clock import utc_now
from hub.context import HubContext
from tests.support import (
    Factory,
    FrozenClock,
    classroom,
    create_room,
    error_of,
    history,
    listing,
    open_direct,
    post,
    send,
)

# --- opening conversations ---------------------------------------------------------------


async def test_direct_conversation_is_opened_once_per_pair(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A direct conversation opens once: re-opening it from either side returns the same one."""
    org = await factory.org()
    student, teacher = await factory.user("student", org), await factory.user("teacher", org)
    first = await open_direct(api, student, teacher)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["kind"] == "direct" and body["org_id"] == str(org.id)
    assert body["my_role"] == "member" and body["last_seq"] == 0 and body["unread_count"] == 0
    before = await factory.snapshot()
    again = await open_direct(api, student, teacher)
    reverse = await open_direct(api, teacher, student)
    assert again.json()["id"] == reverse.json()["id"] == body["id"]
    assert await factory.snapshot() == before
    members = await factory.fetch(
        "SELECT user_id FROM participants WHERE conversation_id = $1::uuid ORDER BY user_id",
        body["id"],
    )
    assert {r["user_id"] for r in members} == {student.id, teacher.id}


async def test_concurrent_opens_of_one_pair_make_one_conversation(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Both sides opening the same direct conversation at once get one conversation."""
    org = await factory.org()
    student, teacher = await factory.user("student", org), await factory.user("teacher", org)
    responses = await asyncio.gather(
        *(open_direct(api, *pair) for pair in [(student, teacher), (teacher, student)] * 4)
    )
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await factory.fetchval("SELECT count(*) FROM conversations") == 1
    assert await factory.fetchval("SELECT count(*) FROM participants") == 2


async def test_reopening_a_left_direct_conversation_brings_me_back(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Re-opening a left direct conversation restores it and records the return as a change."""
    org = await factory.org()
    student, teacher = await factory.user("student", org), await factory.user("teacher", org)
    direct = (await open_direct(api, student, teacher)).json()
    await send(api, teacher, direct["id"], "see me after class")
    assert (
        await api.delete(f"/conversations/{direct['id']}", headers=student.headers)
    ).status_code == 204
    assert await listing(api, student) == []
    reopened = await open_direct(api, student, teacher)
    assert reopened.status_code == 201 and reopened.json()["id"] == direct["id"]
    assert [m["content"] for m in (await history(api, student, direct["id"]))["items"]] == [
        "see me after class"
    ]
    assert [c["id"] for c in await listing(api, student)] == [direct["id"]]
    events = await factory.fetch(
        "SELECT kind, user_id FROM conversation_events WHERE conversation_id = $1::uuid "
        "ORDER BY change_seq",
        direct["id"],
    )
    assert [(e["kind"], e["user_id"]) for e in events] == [
        ("member_removed", student.id),
        ("member_added", student.id),
    ]


async def test_parent_opens_a_direct_conversation_with_the_childs_teacher(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A parent holding a 'parent' role in the school may talk with its teacher, not parents."""
    org = await factory.org()
    parent, teacher = await factory.user("parent", org), await factory.user("teacher", org)
    other_parent = await factory.user("parent", org)
    assert (await open_direct(api, parent, teacher)).status_code == 201
    refused = await open_direct(api, parent, other_parent)
    assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden"


async def test_students_cannot_open_direct_conversations_with_each_other(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Student to student is a 403 and creates nothing."""
    org = await factory.org()
    a, b = await factory.user("student", org), await factory.user("student", org)
    before = await factory.snapshot()
    response = await open_direct(api, a, b)
    assert response.status_code == 403 and error_of(response)["code"] == "forbidden"
    assert await factory.snapshot() == before


async def test_nobody_opens_a_conversation_across_organizations(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A student of one school cannot reach a teacher of another (nor a stranger, nor self)."""
    school, academy = await factory.org(), await factory.org()
    student = await factory.user("student", school)
    teacher = await factory.user("teacher", academy)
    stranger = await factory.user()
    before = await factory.snapshot()
    for other in (teacher, stranger, student):
        response = await open_direct(api, student, other)
        assert response.status_code == 403, response.text
    assert await factory.snapshot() == before


async def test_teacher_creates_group_and_announcement_with_org_members(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A teacher opens a group and an announcement; they are its admin, the others members."""
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    student, parent = await factory.user("student", org), await factory.user("parent", org)
    for kind in ("group", "announcement"):
        room = await create_room(api, teacher, org, [student, parent], kind, title=f"{kind} 1")
        assert room["kind"] == kind and room["title"] == f"{kind} 1"
        assert room["my_role"] == "admin"
        detail = await api.get(f"/conversations/{room['id']}", headers=student.headers)
        assert detail.status_code == 200, detail.text
        roles = {p["user_id"]: p["role"] for p in detail.json()["participants"]}
        assert roles == {
            str(teacher.id): "admin",
            str(student.id): "member",
            str(parent.id): "member",
        }
        assert detail.json()["my_role"] == "member"


async def test_group_with_non_members_is_refused_naming_member_ids(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Inviting someone outside the organization is a 422 naming member_ids and the user."""
    school, academy = await factory.org(), await factory.org()
    teacher, student = await factory.user("teacher", school), await factory.user("student", school)
    outsider = await factory.user("student", academy)
    before = await factory.snapshot()
    response = await api.post(
        "/conversations",
        json={
            "kind": "group",
            "org_id": str(school.id),
            "title": "Math",
            "member_ids": [str(student.id), str(outsider.id)],
        },
        headers=teacher.headers,
    )
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "validation_error" and error["field"] == "member_ids"
    assert error["user_ids"] == [str(outsider.id)]
    assert await factory.snapshot() == before


async def test_students_cannot_create_groups(api: httpx.AsyncClient, factory: Factory) -> None:
    """Only teachers and administrators open groups: a student gets 403, nothing is stored."""
    org = await factory.org()
    student = await factory.user("student", org)
    before = await factory.snapshot()
    response = await api.post(
        "/conversations",
        json={"kind": "group", "org_id": str(org.id), "title": "Gamers", "member_ids": []},
        headers=student.headers,
    )
    assert response.status_code == 403, response.text
    assert await factory.snapshot() == before


# --- sending -------------------------------------------------------------------------------


async def test_members_cannot_post_in_an_announcement(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """An announcement is read-only for members: 403 and nothing stored; its admin posts."""
    room = await classroom(api, factory, kind="announcement")
    before = await factory.snapshot()
    response = await post(api, room.students[0], room.id, "Can we move the exam?")
    assert response.status_code == 403 and error_of(response)["code"] == "forbidden"
    assert await factory.snapshot() == before
    assert (await send(api, room.teacher, room.id, "The exam moves to Friday."))["seq"] == 1


async def test_observers_read_but_do_not_post(api: httpx.AsyncClient, factory: Factory) -> None:
    """An observer added to a group reads its history but gets 403 when posting."""
    room = await classroom(api, factory, students=1)
    observer = await factory.user("parent", room.org)
    added = await api.post(
        f"/conversations/{room.id}/participants",
        json={"user_ids": [str(observer.id)], "role": "observer"},
        headers=room.teacher.headers,
    )
    assert added.status_code == 201, added.text
    await send(api, room.teacher, room.id, "Class photo on Thursday")
    assert len((await history(api, observer, room.id))["items"]) == 1
    before = await factory.snapshot()
    response = await post(api, observer, room.id, "Can I come?")
    assert response.status_code == 403, response.text
    assert await factory.snapshot() == before


async def test_send_is_idempotent_per_client_msg_id(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Sending twice with one client_msg_id returns the same id and seq and stores one row."""
    room = await classroom(api, factory)
    student = room.students[0]
    first = await send(api, student, room.id, "hello", client_msg_id="retry-1")
    second = await send(api, student, room.id, "hello", client_msg_id="retry-1")
    assert first == second and first["seq"] == 1
    rows = await factory.fetch("SELECT seq FROM messages WHERE conversation_id = $1::uuid", room.id)
    assert [r["seq"] for r in rows] == [1]
    assert (await send(api, student, room.id, "next"))["seq"] == 2


async def test_client_msg_id_reused_in_another_conversation_is_a_conflict(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """One client_msg_id cannot name two messages: reusing it elsewhere is a 409."""
    room = await classroom(api, factory)
    direct = (await open_direct(api, room.students[0], room.teacher)).json()
    await send(api, room.students[0], room.id, "hi", client_msg_id="same")
    before = await factory.snapshot()
    response = await post(api, room.students[0], direct["id"], "hi", client_msg_id="same")
    assert response.status_code == 409 and error_of(response)["field"] == "client_msg_id"
    assert await factory.snapshot() == before


async def test_seqs_count_up_from_one(api: httpx.AsyncClient, factory: Factory) -> None:
    """Messages from several senders get seqs 1..N in order; the conversation's last_seq is N."""
    room = await classroom(api, factory)
    senders = [room.teacher, *room.students, room.teacher]
    seqs = [(await send(api, u, room.id, f"m{i}"))["seq"] for i, u in enumerate(senders)]
    assert seqs == [1, 2, 3, 4]
    detail = await api.get(f"/conversations/{room.id}", headers=room.teacher.headers)
    assert detail.json()["last_seq"] == 4


async def test_concurrent_sends_get_gap_free_seqs(api: httpx.AsyncClient, factory: Factory) -> None:
    """Fifty sends at once from five senders are all stored with seqs exactly 1..50."""
    room = await classroom(api, factory, students=5)
    sends = [
        post(api, student, room.id, f"{n} from {i}")
        for i, student in enumerate(room.students)
        for n in range(10)
    ]
    responses = await asyncio.gather(*sends)
    assert [r.status_code for r in responses] == [201] * 50, [r.text for r in responses]
    assert sorted(r.json()["seq"] for r in responses) == list(range(1, 51))
    rows = await factory.fetch(
        "SELECT seq FROM messages WHERE conversation_id = $1::uuid ORDER BY seq", room.id
    )
    assert [r["seq"] for r in rows] == list(range(1, 51))
    assert (
        await factory.fetchval("SELECT last_seq FROM conversations WHERE id = $1::uuid", room.id)
        == 50
    )


async def test_exactly_the_limit_is_accepted(api: httpx.AsyncClient, factory: Factory) -> None:
    """A message of exactly 4,000 characters is stored whole."""
    room = await classroom(api, factory)
    await send(api, room.teacher, room.id, "가" * 4000)
    page = await history(api, room.teacher, room.id)
    assert page["items"][0]["content"] == "가" * 4000


async def test_eleventh_message_in_a_second_is_rate_limited(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock
) -> None:
    """Frozen clock: 10 sends pass, the 11th is a 429 with retry_after; a second later, ok."""
    room = await classroom(api, factory)
    for n in range(10):
        await send(api, room.teacher, room.id, f"#{n}")
    before = await factory.snapshot()
    response = await post(api, room.teacher, room.id, "one too many")
    assert response.status_code == 429, response.text
    error = error_of(response)
    assert error["code"] == "rate_limited"
    assert 0 < error["retry_after"] <= 1
    assert await factory.snapshot() == before
    other = await post(api, room.students[0], room.id, "someone else")
    assert other.status_code == 201, "the limit is per user"
    clock.advance(seconds=1)
    assert (await send(api, room.teacher, room.id, "again"))["seq"] == 12


# --- history -------------------------------------------------------------------------------


async def test_history_pages_backward_and_forward(api: httpx.AsyncClient, factory: Factory) -> None:
    """before/after/limit walk the history in seq order and has_more says when to stop."""
    room = await classroom(api, factory)
    for n in range(1, 8):
        await send(api, room.teacher, room.id, f"m{n}")
    reader = room.students[0]

    def seqs(page: dict[str, Any]) -> list[int]:
        return [m["seq"] for m in page["items"]]

    latest = await history(api, reader, room.id, limit=3)
    assert (seqs(latest), latest["has_more"]) == ([5, 6, 7], True)
    assert [m["content"] for m in latest["items"]] == ["m5", "m6", "m7"]
    older = await history(api, reader, room.id, before=5, limit=3)
    assert (seqs(older), older["has_more"]) == ([2, 3, 4], True)
    oldest = await history(api, reader, room.id, before=2, limit=3)
    assert (seqs(oldest), oldest["has_more"]) == ([1], False)
    forward = await history(api, reader, room.id, after=4, limit=2)
    assert (seqs(forward), forward["has_more"]) == ([5, 6], True)
    tail = await history(api, reader, room.id, after=6, limit=2)
    assert (seqs(tail), tail["has_more"]) == ([7], False)
    between = await history(api, reader, room.id, after=2, before=6)
    assert (seqs(between), between["has_more"]) == ([3, 4, 5], False)
    everything = await history(api, reader, room.id)
    assert (seqs(everything), everything["has_more"]) == (list(range(1, 8)), False)


async def test_history_filters_by_date(api: httpx.AsyncClient, factory: Factory) -> None:
    """since/until keep only messages created in [since, until)."""
    room = await classroom(api, factory)
    for n in range(1, 7):
        await send(api, room.teacher, room.id, f"m{n}")
    now = utc_now()
    # Messages 1-2 were sent three days ago, 3-4 yesterday, 5-6 now.
    for seq, age in ((1, 3), (2, 3), (3, 1), (4, 1)):
        await factory.fetchval(
            "UPDATE messages SET created_at = $3 WHERE conversation_id = $1::uuid AND seq = $2",
            room.id,
            seq,
            now - timedelta(days=age),
        )
    reader = room.students[0]

    def seqs(page: dict[str, Any]) -> list[int]:
        return [m["seq"] for m in page["items"]]

    two_days_ago = (now - timedelta(days=2)).isoformat()
    twelve_hours_ago = (now - timedelta(hours=12)).isoformat()
    assert seqs(await history(api, reader, room.id, since=two_days_ago)) == [3, 4, 5, 6]
    assert seqs(await history(api, reader, room.id, until=two_days_ago)) == [1, 2]
    window = await history(api, reader, room.id, since=two_days_ago, until=twelve_hours_ago)
    assert seqs(window) == [3, 4]
    paged = await history(api, reader, room.id, since=two_days_ago, limit=1)
    assert (seqs(paged), paged["has_more"]) == ([6], True)


async def test_bad_history_queries_are_refused(api: httpx.AsyncClient, factory: Factory) -> None:
    """Limit over 100, negative seqs, naive or bad dates, unknown params: 422 naming it."""
    room = await classroom(api, factory, students=0)
    await send(api, room.teacher, room.id, "hello")
    cases: list[dict[str, Any]] = [
        {"limit": 101},
        {"limit": 0},
        {"before": -1},
        {"after": "five"},
        {"since": "2024-05-01T10:00:00"},
        {"until": "yesterday"},
        {"cursor": "abc"},
    ]
    for params in cases:
        response = await api.get(
            f"/conversations/{room.id}/messages", params=params, headers=room.teacher.headers
        )
        assert response.status_code == 422, (params, response.text)
        error = error_of(response)
        assert error["code"] == "validation_error"
        assert next(iter(params)) in error["message"], (params, error)
    assert len((await history(api, room.teacher, room.id, limit=100))["items"]) == 1


async def test_non_members_cannot_read_history(api: httpx.AsyncClient, factory: Factory) -> None:
    """Someone outside a conversation, even a teacher of the same school, gets a 404."""
    room = await classroom(api, factory)
    await send(api, room.teacher, room.id, "secret")
    colleague = await factory.user("teacher", room.org)
    for outsider in (colleague, await factory.user("student", await factory.org())):
        response = await api.get(f"/conversations/{room.id}/messages", headers=outsider.headers)
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"
        detail = await api.get(f"/conversations/{room.id}", headers=outsider.headers)
        assert detail.status_code == 404


# --- edit and delete ---------------------------------------------------------------------


async def test_sender_edits_a_message_and_others_cannot(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """The sender's edit sets content and edited_at; anyone else (even the admin) gets 403."""
    room = await classroom(api, factory)
    student = room.students[0]
    message = await send(api, student, room.id, "teh answer is 4")
    edited = await api.put(
        f"/messages/{message['id']}", json={"content": "the answer is 4"}, headers=student.headers
    )
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert body["content"] == "the answer is 4" and body["edited_at"] is not None
    assert body["seq"] == message["seq"] and body["id"] == message["id"]
    for other in (room.teacher, room.students[1]):
        response = await api.put(
            f"/messages/{message['id']}", json={"content": "hacked"}, headers=other.headers
        )
        assert response.status_code == 403, response.text
    (stored,) = (await history(api, room.teacher, room.id))["items"]
    assert stored["content"] == "the answer is 4" and stored["edited_at"] is not None


async def test_sender_and_admin_delete_but_members_cannot(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Sender and admin delete (seq stays, content goes); a member cannot delete another's."""
    room = await classroom(api, factory)
    alice, bob = room.students
    first = await send(api, alice, room.id, "first")
    second = await send(api, alice, room.id, "second")
    third = await send(api, bob, room.id, "third")
    refused = await api.delete(f"/messages/{third['id']}", headers=alice.headers)
    assert refused.status_code == 403, refused.text
    own = await api.delete(f"/messages/{first['id']}", headers=alice.headers)
    assert own.status_code == 204, own.text
    by_admin = await api.delete(f"/messages/{second['id']}", headers=room.teacher.headers)
    assert by_admin.status_code == 204, by_admin.text
    items = (await history(api, bob, room.id))["items"]
    assert [(m["seq"], m["content"], m["deleted_at"] is not None) for m in items] == [
        (1, None, True),
        (2, None, True),
        (3, "third", False),
    ]
    again = await api.delete(f"/messages/{first['id']}", headers=alice.headers)
    assert again.status_code == 409
    edit_deleted = await api.put(
        f"/messages/{first['id']}", json={"content": "back"}, headers=alice.headers
    )
    assert edit_deleted.status_code == 409
    audited = await factory.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'message.delete_by_admin' "
        "AND target_id = $1",
        second["id"],
    )
    assert audited == 1
    removed_last = await api.delete(f"/messages/{third['id']}", headers=bob.headers)
    assert removed_last.status_code == 204
    (listed,) = await listing(api, alice)
    assert listed["last_message"]["seq"] == 3 and listed["last_message"]["content"] is None


async def test_outsiders_cannot_touch_messages(api: httpx.AsyncClient, factory: Factory) -> None:
    """A user outside the conversation sees 404 for edit, delete, report, ack and read-status."""
    room = await classroom(api, factory)
    message = await send(api, room.teacher, room.id, "private")
    outsider = await factory.user("teacher", room.org)
    before = await factory.snapshot()
    url = f"/messages/{message['id']}"
    responses = [
        await api.put(url, json={"content": "x"}, headers=outsider.headers),
        await api.delete(url, headers=outsider.headers),
        await api.post(f"{url}/report", json={"reason": "x"}, headers=outsider.headers),
        await api.post(f"{url}/ack", headers=outsider.headers),
        await api.get(f"{url}/read-status", headers=outsider.headers),
    ]
    assert [r.status_code for r in responses] == [404] * 5
    assert await factory.snapshot() == before


# --- reading -------------------------------------------------------------------------------


async def test_read_watermark_only_moves_forward(api: httpx.AsyncClient, factory: Factory) -> None:
    """The watermark lowers unread_count; back is 409, past last_seq 422; neither moves it."""
    room = await classroom(api, factory)
    for n in range(3):
        await send(api, room.teacher, room.id, f"m{n}")
    student = room.students[0]
    url = f"/conversations/{room.id}/read"

    async def unread() -> int:
        (conv,) = await listing(api, student)
        return int(conv["unread_count"])

    assert await unread() == 3
    moved = await api.post(url, json={"seq": 2}, headers=student.headers)
    assert moved.status_code == 200, moved.text
    assert moved.json() == {
        "conversation_id": room.id,
        "user_id": str(student.id),
        "seq": 2,
        "unread_count": 1,
    }
    assert await unread() == 1
    backwards = await api.post(url, json={"seq": 1}, headers=student.headers)
    assert backwards.status_code == 409 and error_of(backwards)["last_read_seq"] == 2
    beyond = await api.post(url, json={"seq": 4}, headers=student.headers)
    assert beyond.status_code == 422 and error_of(beyond)["field"] == "seq"
    assert await unread() == 1
    same = await api.post(url, json={"seq": 2}, headers=student.headers)
    assert same.status_code == 200 and same.json()["unread_count"] == 1
    assert (await api.post(url, json={"seq": 3}, headers=student.headers)).status_code == 200
    assert await unread() == 0
    assert (await listing(api, room.students[1]))[0]["unread_count"] == 3


async def test_conversations_are_listed_by_last_activity(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """GET /conversations orders by the latest message, with last_message and unread_count."""
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    student = await factory.user("student", org)
    math = await create_room(api, teacher, org, [student], title="Math")
    science = await create_room(api, teacher, org, [student], title="Science")
    direct = (await open_direct(api, student, teacher)).json()
    empty = await create_room(api, teacher, org, [student], title="Empty")
    await send(api, teacher, math["id"], "math 1")
    await send(api, teacher, science["id"], "science 1")
    await send(api, student, direct["id"], "question")
    await send(api, teacher, math["id"], "math 2")
    items = await listing(api, student)
    assert [c["id"] for c in items] == [math["id"], direct["id"], science["id"], empty["id"]]
    by_id = {c["id"]: c for c in items}
    assert by_id[math["id"]]["last_message"]["content"] == "math 2"
    assert by_id[math["id"]]["last_message"]["seq"] == 2
    assert by_id[math["id"]]["last_message"]["sender_id"] == str(teacher.id)
    assert by_id[math["id"]]["unread_count"] == 2
    assert by_id[direct["id"]]["unread_count"] == 0, "my own message is read"
    assert by_id[science["id"]]["unread_count"] == 1
    assert by_id[empty["id"]]["last_message"] is None
    assert by_id[empty["id"]]["unread_count"] == 0
    teachers = await listing(api, teacher)
    assert [c["id"] for c in teachers][:2] == [math["id"], direct["id"]]
    assert {c["id"]: c["unread_count"] for c in teachers}[direct["id"]] == 1


async def test_announcement_read_status_is_for_admins(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """The announcement's admin sees who read it and who did not; members get 403."""
    room = await classroom(api, factory, students=3, kind="announcement")
    reader, _, _ = room.students
    notice = await send(api, room.teacher, room.id, "No school on Monday")
    read = await api.post(
        f"/conversations/{room.id}/read", json={"seq": notice["seq"]}, headers=reader.headers
    )
    assert read.status_code == 200, read.text
    status = await api.get(f"/messages/{notice['id']}/read-status", headers=room.teacher.headers)
    assert status.status_code == 200, status.text
    body = status.json()
    assert body["read"] == [str(reader.id)]
    assert sorted(body["unread"]) == sorted(str(s.id) for s in room.students[1:])
    assert body["acknowledged"] is None and body["seq"] == 1
    refused = await api.get(f"/messages/{notice['id']}/read-status", headers=reader.headers)
    assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden"


async def test_members_acknowledge_an_announcement_that_asks_for_it(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Members ack a permission slip once; read-status lists them; plain messages aren't."""
    room = await classroom(api, factory, students=2, kind="announcement")
    signer, other = room.students
    slip = await send(
        api, room.teacher, room.id, "Field trip on Friday: please confirm", ack_required=True
    )
    acked = await api.post(f"/messages/{slip['id']}/ack", headers=signer.headers)
    assert acked.status_code == 200, acked.text
    assert acked.json() == {
        "message_id": slip["id"],
        "conversation_id": room.id,
        "user_id": str(signer.id),
        "new": True,
    }
    repeat = await api.post(f"/messages/{slip['id']}/ack", headers=signer.headers)
    assert repeat.status_code == 200 and repeat.json()["new"] is False
    status = (
        await api.get(f"/messages/{slip['id']}/read-status", headers=room.teacher.headers)
    ).json()
    assert status["acknowledged"] == [str(signer.id)]
    assert status["read"] == [str(signer.id)] and status["unread"] == [str(other.id)]
    plain = await send(api, room.teacher, room.id, "Just so you know")
    refused = await api.post(f"/messages/{plain['id']}/ack", headers=signer.headers)
    assert refused.status_code == 409, refused.text
    assert await factory.fetchval("SELECT count(*) FROM message_acks") == 1


async def test_ack_required_is_ignored_outside_announcements(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Only announcements carry permission slips: ack_required in a group is stored as false."""
    room = await classroom(api, factory)
    message = await send(api, room.teacher, room.id, "sign this", ack_required=True)
    (stored,) = (await history(api, room.teacher, room.id))["items"]
    assert stored["id"] == message["id"] and stored["ack_required"] is False


async def test_a_message_is_reported_once(api: httpx.AsyncClient, factory: Factory) -> None:
    """A participant reports a message (201, stored, audited); reporting it again is a 409."""
    room = await classroom(api, factory)
    message = await send(api, room.students[1], room.id, "rude words")
    reporter = room.students[0]
    url = f"/messages/{message['id']}/report"
    first = await api.post(url, json={"reason": "bullying"}, headers=reporter.headers)
    assert first.status_code == 201, first.text
    assert first.json()["message_id"] == message["id"] and first.json()["reason"] == "bullying"
    before = await factory.snapshot()
    second = await api.post(url, json={"reason": "again"}, headers=reporter.headers)
    assert second.status_code == 409 and error_of(second)["code"] == "conflict"
    assert await factory.snapshot() == before
    rows = await factory.fetch("SELECT reporter_id, reason FROM message_reports")
    assert [(r["reporter_id"], r["reason"]) for r in rows] == [(reporter.id, "bullying")]
    by_teacher = await api.post(url, json={"reason": "seen it"}, headers=room.teacher.headers)
    assert by_teacher.status_code == 201


# --- membership ----------------------------------------------------------------------------


async def test_after_leaving_the_history_is_gone(api: httpx.AsyncClient, factory: Factory) -> None:
    """Leaving a conversation hides its history, detail and listing, and stops sending."""
    room = await classroom(api, factory)
    leaver = room.students[0]
    await send(api, room.teacher, room.id, "welcome")
    left = await api.delete(f"/conversations/{room.id}", headers=leaver.headers)
    assert left.status_code == 204, left.text
    assert (
        await api.get(f"/conversations/{room.id}/messages", headers=leaver.headers)
    ).status_code == 404
    assert (await api.get(f"/conversations/{room.id}", headers=leaver.headers)).status_code == 404
    assert (await post(api, leaver, room.id, "still here?")).status_code == 404
    assert await listing(api, leaver) == []
    again = await api.delete(f"/conversations/{room.id}", headers=leaver.headers)
    assert again.status_code == 404
    detail = (await api.get(f"/conversations/{room.id}", headers=room.teacher.headers)).json()
    assert str(leaver.id) not in {p["user_id"] for p in detail["participants"]}


async def test_admin_adds_and_removes_participants(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """The admin adds an org member (who then reads history) and removes them (404 again)."""
    room = await classroom(api, factory, students=1)
    newcomer = await factory.user("student", room.org)
    await send(api, room.teacher, room.id, "before you came")
    url = f"/conversations/{room.id}/participants"
    added = await api.post(
        url,
        json={"user_ids": [str(newcomer.id), str(room.students[0].id)]},
        headers=room.teacher.headers,
    )
    assert added.status_code == 201, added.text
    assert added.json() == {"added": [str(newcomer.id)]}, "present members are not re-added"
    assert [m["content"] for m in (await history(api, newcomer, room.id))["items"]] == [
        "before you came"
    ]
    removed = await api.delete(f"{url}/{newcomer.id}", headers=room.teacher.headers)
    assert removed.status_code == 204, removed.text
    response = await api.get(f"/conversations/{room.id}/messages", headers=newcomer.headers)
    assert response.status_code == 404
    events = await factory.fetch(
        "SELECT kind, user_id FROM conversation_events WHERE conversation_id = $1::uuid "
        "ORDER BY change_seq",
        room.id,
    )
    assert [(e["kind"], e["user_id"]) for e in events] == [
        ("member_added", newcomer.id),
        ("member_removed", newcomer.id),
    ]
    absent = await api.delete(f"{url}/{newcomer.id}", headers=room.teacher.headers)
    assert absent.status_code == 404, "removing someone who is not there"
    readded = await api.post(
        url, json={"user_ids": [str(newcomer.id)]}, headers=room.teacher.headers
    )
    assert readded.json() == {"added": [str(newcomer.id)]}


async def test_members_cannot_manage_participants(api: httpx.AsyncClient, factory: Factory) -> None:
    """A plain member can neither add nor remove others (403), and nothing changes."""
    room = await classroom(api, factory)
    member, other = room.students
    newcomer = await factory.user("student", room.org)
    before = await factory.snapshot()
    url = f"/conversations/{room.id}/participants"
    add = await api.post(url, json={"user_ids": [str(newcomer.id)]}, headers=member.headers)
    assert add.status_code == 403, add.text
    remove = await api.delete(f"{url}/{other.id}", headers=member.headers)
    assert remove.status_code == 403, remove.text
    remove_admin = await api.delete(f"{url}/{room.teacher.id}", headers=member.headers)
    assert remove_admin.status_code == 403
    assert await factory.snapshot() == before


async def test_direct_conversations_have_fixed_members(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Nobody adds a third person to a direct conversation or removes the other one."""
    org = await factory.org()
    student, teacher = await factory.user("student", org), await factory.user("teacher", org)
    third = await factory.user("student", org)
    direct = (await open_direct(api, teacher, student)).json()
    url = f"/conversations/{direct['id']}/participants"
    before = await factory.snapshot()
    add = await api.post(url, json={"user_ids": [str(third.id)]}, headers=teacher.headers)
    assert add.status_code == 403, add.text
    remove = await api.delete(f"{url}/{student.id}", headers=teacher.headers)
    assert remove.status_code == 403, remove.text
    assert await factory.snapshot() == before


async def test_rls_hides_other_conversations_from_unfiltered_queries(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """Acting as a colleague outside a room, a query without any filter sees none of it."""
    room = await classroom(api, factory)
    await send(api, room.teacher, room.id, "only for class 3-2")
    colleague = await factory.user("teacher", room.org)
    async with hub_ctx.db.acting(colleague.id) as conn:
        counts = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM messages) AS messages,
                      (SELECT count(*) FROM conversations) AS conversations,
                      (SELECT count(*) FROM participants) AS participants"""
        )
    assert dict(counts or {}) == {"messages": 0, "conversations": 0, "participants": 0}
    async with hub_ctx.db.acting(room.students[0].id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM messages") == 1


async def test_adding_an_outsider_names_user_ids(api: httpx.AsyncClient, factory: Factory) -> None:
    """Adding someone outside the organization is a 422 naming the body's user_ids field."""
    room = await classroom(api, factory)
    outsider = await factory.user("student", await factory.org())
    before = await factory.snapshot()
    response = await api.post(
        f"/conversations/{room.id}/participants",
        json={"user_ids": [str(outsider.id)]},
        headers=room.teacher.headers,
    )
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["field"] == "user_ids" and error["user_ids"] == [str(outsider.id)]
    assert await factory.snapshot() == before


# --- malformed input -----------------------------------------------------------------------

NOT_A_UUID = "not-a-uuid"
MALFORMED = [
    ("POST", "/conversations", {"member_ids": []}, "kind"),
    ("POST", "/conversations", {"kind": "chatroom", "member_ids": []}, "kind"),
    ("POST", "/conversations", {"kind": "direct", "member_ids": [NOT_A_UUID]}, "member_ids"),
    ("POST", "/conversations", {"kind": "direct", "member_ids": "{student}"}, "member_ids"),
    ("POST", "/conversations", {"kind": "direct", "member_ids": ["{student}", "{teacher}"]}, ""),
    ("POST", "/conversations", {"kind": "group", "title": "No org", "member_ids": []}, "org_id"),
    ("POST", "/conversations", {"kind": "direct", "member_ids": ["{student}"], "x": 1}, "x"),
    ("POST", "/conversations/{cid}/messages", {"content": "hi"}, "client_msg_id"),
    ("POST", "/conversations/{cid}/messages", {"client_msg_id": "a"}, "content"),
    ("POST", "/conversations/{cid}/messages", {"client_msg_id": "a", "content": 5}, "content"),
    (
        "POST",
        "/conversations/{cid}/messages",
        {"client_msg_id": "a", "content": "x" * 5000},
        "content",
    ),
    ("POST", "/conversations/{cid}/messages", {"client_msg_id": "a", "content": "   "}, "content"),
    (
        "POST",
        "/conversations/{cid}/messages",
        {"client_msg_id": "a b/c", "content": "hi"},
        "client_msg_id",
    ),
    (
        "POST",
        "/conversations/{cid}/messages",
        {"client_msg_id": "a", "content": "hi", "message_type": "system"},
        "message_type",
    ),
    (
        "POST",
        "/conversations/{cid}/messages",
        {"client_msg_id": "a", "content": "hi", "reply_to": NOT_A_UUID},
        "reply_to",
    ),
    (
        "POST",
        "/conversations/{cid}/messages",
        {"client_msg_id": "a", "content": "hi", "sender_id": "{teacher}"},
        "sender_id",
    ),
    (
        "POST",
        "/conversations/" + NOT_A_UUID + "/messages",
        {"client_msg_id": "a", "content": "hi"},
        "conversation_id",
    ),
    ("POST", "/conversations/{cid}/read", {"seq": "abc"}, "seq"),
    ("POST", "/conversations/{cid}/read", {"seq": -1}, "seq"),
    ("POST", "/conversations/{cid}/read", {}, "seq"),
    ("POST", "/conversations/{cid}/participants", {"user_ids": []}, "user_ids"),
    (
        "POST",
        "/conversations/{cid}/participants",
        {"user_ids": ["{teacher}"], "role": "owner"},
        "role",
    ),
    ("DELETE", "/conversations/{cid}/participants/" + NOT_A_UUID, None, "user_id"),
    ("PUT", "/messages/{mid}", {}, "content"),
    ("PUT", "/messages/{mid}", {"content": "x" * 4001}, "content"),
    ("PUT", "/messages/" + NOT_A_UUID, {"content": "hi"}, "message_id"),
    ("POST", "/messages/{mid}/report", {"reason": ""}, "reason"),
    ("POST", "/messages/{mid}/ack", {"please": True}, ""),
    ("GET", "/messages/" + NOT_A_UUID + "/read-status", None, "message_id"),
]


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names) if "{" in value else value
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


async def test_malformed_requests_are_refused_and_change_nothing(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Missing, mistyped, oversized, extra or non-UUID input: 422 naming it; nothing changes."""
    room = await classroom(api, factory, students=1)
    message = await send(api, room.teacher, room.id, "hello")
    names = {
        "cid": room.id,
        "mid": message["id"],
        "student": str(room.students[0].id),
        "teacher": str(room.teacher.id),
    }
    before = await factory.snapshot()
    for method, path, body, field in MALFORMED:
        case = (method, path, body if len(str(body)) < 200 else "<long>")
        response = await api.request(
            method, _fill(path, names), json=_fill(body, names), headers=room.teacher.headers
        )
        assert response.status_code == 422, (case, response.text)
        error = error_of(response)
        assert error["code"] == "validation_error", case
        assert field in error["message"], (case, error)
    assert await factory.snapshot() == before
    (stored,) = (await history(api, room.teacher, room.id))["items"]
    assert stored["content"] == "hello" and stored["edited_at"] is None


async def test_broken_json_is_a_400(api: httpx.AsyncClient, factory: Factory) -> None:
    """A send whose body is not JSON is refused with malformed_json and stores nothing."""
    room = await classroom(api, factory, students=0)
    before = await factory.snapshot()
    response = await api.post(
        f"/conversations/{room.id}/messages",
        content=b'{"client_msg_id": "a", "content": ',
        headers={**room.teacher.headers, "content-type": "application/json"},
    )
    assert response.status_code == 400 and error_of(response)["code"] == "malformed_json"
    assert await factory.snapshot() == before


async def test_reply_to_must_be_in_the_same_conversation(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A reply names a message of its own conversation; one from elsewhere is a 422."""
    room = await classroom(api, factory)
    question = await send(api, room.students[0], room.id, "What is on the test?")
    answer = await send(api, room.teacher, room.id, "Chapter 5", reply_to=question["id"])
    assert answer["seq"] == 2
    other = await create_room(api, room.teacher, room.org, room.students, title="Other")
    elsewhere = await send(api, room.teacher, other["id"], "elsewhere")
    before = await factory.snapshot()
    response = await post(api, room.teacher, room.id, "reply", reply_to=elsewhere["id"])
    assert response.status_code == 422 and error_of(response)["field"] == "reply_to"
    assert await factory.snapshot() == before
    items = (await history(api, room.teacher, room.id))["items"]
    assert items[1]["reply_to"] == question["id"]
