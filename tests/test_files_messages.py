"""Messages with attachments over real sockets: what members see, who may fetch the files,
and what deleting, leaving and erasure do to them."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import httpx

from hub.context import HubContext
from hub.files.storage import LocalStorage
from tests import file_samples as samples
from tests.files_support import run_worker, uploaded
from tests.sockets import Client
from tests.support import PASSWORD, Factory, User, history

Connect = Callable[[User], Awaitable[Client]]


def _send(conv: UUID, kind: str, files: list[str], content: str = "") -> dict[str, Any]:
    return {
        "conversation_id": str(conv),
        "client_msg_id": uuid.uuid4().hex,
        "content": content,
        "message_type": kind,
        "attachment_ids": files,
    }


async def _clean(
    api: httpx.AsyncClient, hub_ctx: HubContext, user: User, data: bytes, name: str
) -> dict[str, Any]:
    body = await uploaded(api, user, data, name)
    await run_worker(hub_ctx, {"hub": hub_ctx})
    return body


def _bytes_exist(hub_ctx: HubContext, key: str) -> bool:
    assert isinstance(hub_ctx.storage, LocalStorage)
    return hub_ctx.storage.path_of(key).exists()


async def test_an_image_message_carries_its_attachments_everywhere(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext, connect: Connect
) -> None:
    """message.new, history and sync give each attachment's name, size, type, state,
    thumbnail and duration, in the order sent."""
    org = await factory.org()
    student, teacher = await factory.user("student", org), await factory.user("teacher", org)
    conv = await factory.conversation("direct", org, [], [student, teacher])
    photo = await _clean(api, hub_ctx, student, samples.jpeg_with_gps(), "문제.jpg")
    second = await _clean(api, hub_ctx, student, samples.png(), "풀이.png")
    s, t = await connect(student), await connect(teacher)
    ack = await s.call("message.send", _send(conv, "image", [photo["id"], second["id"]], "3번"))
    assert "seq" in ack, ack
    new = await t.next("message.new")
    names = [a["name"] for a in new["attachments"]]
    assert names == ["문제.jpg", "풀이.png"]
    first = new["attachments"][0]
    assert {"name", "size", "type", "state", "thumbnail_url", "duration_s", "url"} <= set(first)
    assert (first["type"], first["state"]) == ("image/jpeg", "clean")
    assert first["thumbnail_url"].endswith("/thumbnail")
    page = await history(api, teacher, str(conv))
    assert [a["id"] for a in page["items"][-1]["attachments"]] == [photo["id"], second["id"]]
    synced = await t.call("sync", {"conversations": {str(conv): 0}})
    messages = synced["conversations"][str(conv)]["messages"]
    assert [a["name"] for a in messages[-1]["attachments"]] == names
    got = await api.get(f"/files/{photo['id']}", headers=teacher.headers)
    assert got.status_code == 200


async def test_a_bad_attachment_refuses_the_whole_message(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext, connect: Connect
) -> None:
    """Another school's file, a file of the wrong kind, or more than ten: an error ack and
    no message (the conversation's seq does not move)."""
    org, other = await factory.org(), await factory.org()
    student, teacher = await factory.user("student", org), await factory.user("teacher", org)
    outsider = await factory.user("student", other)
    conv = await factory.conversation("direct", org, [], [student, teacher])
    theirs = await uploaded(api, outsider, samples.png(), "x.png")
    doc = await uploaded(api, student, samples.pdf(), "a.pdf")
    s = await connect(student)
    foreign = await s.call("message.send", _send(conv, "image", [theirs["id"]]))
    assert foreign["error"]["code"] == "validation_error"
    assert foreign["error"]["field"] == "attachment_ids"
    wrong_kind = await s.call("message.send", _send(conv, "image", [doc["id"]]))
    assert "cannot carry a document" in wrong_kind["error"]["message"]
    too_many = await s.call(
        "message.send", _send(conv, "file", [str(uuid.uuid4()) for _ in range(11)])
    )
    assert too_many["error"]["code"] == "validation_error"
    untyped = await s.call("message.send", _send(conv, "text", [doc["id"]], "hi"))
    assert untyped["error"]["code"] == "validation_error"
    assert await factory.fetchval("SELECT last_seq FROM conversations WHERE id = $1", conv) == 0
    assert await factory.fetchval("SELECT count(*) FROM message_files") == 0


async def test_a_member_fetches_a_shared_file_until_they_leave(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext, connect: Connect
) -> None:
    """Members of the conversation may fetch it, others may not (404, as if absent); once a
    member leaves, the file is out of reach for them."""
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    a, b = await factory.user("student", org), await factory.user("student", org)
    stranger = await factory.user("student", org)
    conv = await factory.conversation("group", org, [teacher], [a, b])
    doc = await _clean(api, hub_ctx, teacher, samples.docx(), "안내문.docx")
    t = await connect(teacher)
    assert "seq" in await t.call("message.send", _send(conv, "file", [doc["id"]], "읽어 보세요"))
    assert (await api.get(f"/files/{doc['id']}", headers=a.headers)).status_code == 200
    assert (await api.get(f"/files/{doc['id']}", headers=stranger.headers)).status_code == 404
    left = await api.delete(f"/conversations/{conv}", headers=b.headers)
    assert left.status_code == 204, left.text
    assert (await api.get(f"/files/{doc['id']}", headers=b.headers)).status_code == 404
    assert (await api.get(f"/files/{doc['id']}/url", headers=b.headers)).status_code == 404


async def test_deleting_the_message_makes_its_files_unreachable(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext, connect: Connect
) -> None:
    """After the message is deleted nobody (the uploader included) can fetch its files, and
    their bytes are gone; history shows no attachments."""
    org = await factory.org()
    student, teacher = await factory.user("student", org), await factory.user("teacher", org)
    conv = await factory.conversation("direct", org, [], [student, teacher])
    photo = await _clean(api, hub_ctx, student, samples.png(color=(9, 9, 9)), "a.png")
    s = await connect(student)
    ack = await s.call("message.send", _send(conv, "image", [photo["id"]]))
    key = await factory.fetchval("SELECT storage_key FROM files WHERE id = $1", UUID(photo["id"]))
    assert _bytes_exist(hub_ctx, key)
    deleted = await s.call("message.delete", {"message_id": ack["id"]})
    assert "error" not in deleted, deleted
    for user in (student, teacher):
        assert (await api.get(f"/files/{photo['id']}", headers=user.headers)).status_code == 404
    assert not _bytes_exist(hub_ctx, key)
    page = await history(api, teacher, str(conv))
    assert page["items"][-1]["attachments"] == []


async def test_an_announcement_with_a_pdf_reaches_everyone(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext, connect: Connect
) -> None:
    """A teacher's announcement carrying the exam scope PDF: every member gets it and can
    download it."""
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    students = [await factory.user("student", org) for _ in range(3)]
    conv = await factory.conversation("announcement", org, [teacher], students)
    scope = await _clean(api, hub_ctx, teacher, samples.pdf(), "시험범위.pdf")
    clients = [await connect(s) for s in students]
    t = await connect(teacher)
    ack = await t.call("message.send", _send(conv, "file", [scope["id"]], "내일 시험 범위"))
    assert "seq" in ack, ack
    for client, student in zip(clients, students, strict=True):
        new = await client.next("message.new")
        assert new["attachments"][0]["name"] == "시험범위.pdf"
        got = await api.get(f"/files/{scope['id']}", headers=student.headers)
        assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"


async def test_erasing_an_account_removes_the_bytes_of_its_files(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext, connect: Connect
) -> None:
    """The erased user's uploads lose their bytes; a classmate's upload of the same photo
    keeps them (stored once, needed still)."""
    org = await factory.org()
    student, classmate = await factory.user("student", org), await factory.user("student", org)
    teacher = await factory.user("teacher", org)
    conv = await factory.conversation("direct", org, [], [student, teacher])
    own = await _clean(api, hub_ctx, student, samples.png(color=(4, 4, 4)), "mine.png")
    shared_bytes = samples.png(color=(5, 5, 5))
    mine = await _clean(api, hub_ctx, student, shared_bytes, "same.png")
    theirs = await uploaded(api, classmate, shared_bytes, "same.png")
    s = await connect(student)
    await s.call("message.send", _send(conv, "image", [own["id"]]))
    keys = {
        r["id"]: r["storage_key"]
        for r in await factory.fetch(
            "SELECT id, storage_key FROM files WHERE id = ANY($1::uuid[])",
            [UUID(own["id"]), UUID(mine["id"]), UUID(theirs["id"])],
        )
    }
    done = await api.request(
        "DELETE",
        "/users/me",
        headers=student.headers,
        json={"password": PASSWORD, "confirm": "erase my account"},
    )
    assert done.status_code == 204, done.text
    assert not _bytes_exist(hub_ctx, keys[UUID(own["id"])])
    assert _bytes_exist(hub_ctx, keys[UUID(theirs["id"])])
    assert (await api.get(f"/files/{own['id']}", headers=teacher.headers)).status_code == 404
    erased = await factory.fetchval(
        "SELECT details->'counts'->>'files' FROM audit_log WHERE action = 'user.erase'"
    )
    assert erased == "2"


async def test_row_level_security_hides_files_from_everyone_else(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext, connect: Connect
) -> None:
    """The second wall: acting as a stranger (even of the same school) the database itself
    returns no file rows and no links; members see what was shared."""
    org = await factory.org()
    student, teacher = await factory.user("student", org), await factory.user("teacher", org)
    stranger = await factory.user("teacher", org)
    conv = await factory.conversation("direct", org, [], [student, teacher])
    photo = await uploaded(api, student, samples.png(color=(8, 8, 8)), "a.png")
    s = await connect(student)
    assert "seq" in await s.call("message.send", _send(conv, "image", [photo["id"]]))
    counts = "SELECT (SELECT count(*) FROM files) AS f, (SELECT count(*) FROM message_files) AS m"
    async with hub_ctx.db.acting(stranger.id) as conn:
        seen = await conn.fetchrow(counts)
        assert seen is not None and (seen["f"], seen["m"]) == (0, 0)
    async with hub_ctx.db.acting(teacher.id) as conn:
        seen = await conn.fetchrow(counts)
        assert seen is not None and (seen["f"], seen["m"]) == (1, 1)
