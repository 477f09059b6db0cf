"""The report queue: an org admin sees reported messages with their context and resolves them
(dismiss, delete, warn, mute for a time); the reporter is told; others are refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from hub.context import HubContext
from tests.sockets import Client
from tests.support import Factory, Org, User, error_of, post

Connect = Callable[[User], Awaitable[Client]]


async def _reported(
    api: httpx.AsyncClient, factory: Factory
) -> tuple[Org, User, User, User, str, list[str]]:
    """A class group with five messages; the third (the sender's) is reported by a classmate."""
    org = await factory.org()
    admin = await factory.user("org_admin", org)
    sender, reporter = await factory.user("student", org), await factory.user("student", org)
    conv = str(await factory.conversation("group", org, [], [sender, reporter]))
    ids = []
    for n, who in enumerate((reporter, sender, sender, reporter, sender)):
        sent = await post(api, who, conv, f"메시지 {n + 1}")
        assert sent.status_code == 201, sent.text
        ids.append(sent.json()["id"])
    report = await api.post(
        f"/messages/{ids[2]}/report", headers=reporter.headers, json={"reason": "욕설"}
    )
    assert report.status_code == 201, report.text
    return org, admin, sender, reporter, conv, ids


async def test_admin_lists_reports_with_the_message_and_its_context(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """The open queue shows the reported message and the messages around it; a teacher gets
    403 and another school's admin 404."""
    org, admin, sender, reporter, _, ids = await _reported(api, factory)
    queue = await api.get(f"/organizations/{org.id}/reports", headers=admin.headers)
    assert queue.status_code == 200, queue.text
    (item,) = queue.json()["items"]
    assert item["reason"] == "욕설" and item["reporter_id"] == str(reporter.id)
    assert item["message"]["id"] == ids[2] and item["message"]["content"] == "메시지 3"
    assert item["message"]["sender_id"] == str(sender.id)
    assert [m["id"] for m in item["context"]] == ids
    teacher = await factory.user("teacher", org)
    denied = await api.get(f"/organizations/{org.id}/reports", headers=teacher.headers)
    assert denied.status_code == 403
    stranger = await factory.user("org_admin", await factory.org())
    hidden = await api.get(f"/organizations/{org.id}/reports", headers=stranger.headers)
    assert hidden.status_code == 404
    refused = await api.post(
        f"/reports/{item['id']}/resolve", headers=stranger.headers, json={"action": "dismiss"}
    )
    assert refused.status_code == 404


async def test_mute_refuses_the_sender_and_tells_the_reporter(
    api: httpx.AsyncClient, factory: Factory, connect: Connect, hub_ctx: HubContext
) -> None:
    """Muting for 30 minutes: the sender's next message is 403 muted, the reporter hears the
    report was handled, the queue is empty, and resolving again is 409."""
    org, admin, sender, reporter, conv, _ = await _reported(api, factory)
    reporter_socket, sender_socket = await connect(reporter), await connect(sender)
    (item,) = (await api.get(f"/organizations/{org.id}/reports", headers=admin.headers)).json()[
        "items"
    ]
    resolved = await api.post(
        f"/reports/{item['id']}/resolve",
        headers=admin.headers,
        json={"action": "mute", "mute_minutes": 30, "note": "1차 경고 후 재발"},
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolution"] == "muted" and resolved.json()["muted_until"]
    told = await reporter_socket.next("report.resolved")
    assert told == {"message_id": item["message_id"], "resolution": "handled"}
    notice = await sender_socket.next("moderation.notice")
    assert notice["resolution"] == "muted" and notice["muted_until"].endswith("Z")
    muted = await post(api, sender, conv, "왜 안 보내져?")
    assert muted.status_code == 403 and error_of(muted)["code"] == "muted"
    assert (await post(api, reporter, conv, "괜찮아")).status_code == 201
    queue = await api.get(f"/organizations/{org.id}/reports", headers=admin.headers)
    assert queue.json()["items"] == []
    again = await api.post(
        f"/reports/{item['id']}/resolve", headers=admin.headers, json={"action": "dismiss"}
    )
    assert again.status_code == 409
    queued = b" ".join(await hub_ctx.redis.zrange(hub_ctx.keys.job_queue, 0, -1))
    assert b"notify-users:report_resolved:" in queued and b"notify-users:moderation:" in queued


async def test_delete_removes_the_message_for_everyone(
    api: httpx.AsyncClient, factory: Factory, connect: Connect
) -> None:
    """Resolving with delete empties the message and tells the conversation."""
    org, admin, _, reporter, conv, ids = await _reported(api, factory)
    watcher = await connect(reporter)
    (item,) = (await api.get(f"/organizations/{org.id}/reports", headers=admin.headers)).json()[
        "items"
    ]
    resolved = await api.post(
        f"/reports/{item['id']}/resolve", headers=admin.headers, json={"action": "delete"}
    )
    assert resolved.status_code == 200, resolved.text
    event = await watcher.next("message.deleted")
    assert event["id"] == ids[2]
    content = await factory.fetchval(
        "SELECT content FROM messages WHERE id = $1::uuid AND deleted_at IS NOT NULL", ids[2]
    )
    assert content is not None  # stored text is kept for the record; clients get none
    history = await api.get(f"/conversations/{conv}/messages", headers=reporter.headers)
    assert [m["content"] for m in history.json()["items"]][2] is None


async def test_bad_resolutions_change_nothing(api: httpx.AsyncClient, factory: Factory) -> None:
    """Mute without minutes, minutes without mute, an unknown action or report: 4xx, unchanged."""
    org, admin, *_ = await _reported(api, factory)
    (item,) = (await api.get(f"/organizations/{org.id}/reports", headers=admin.headers)).json()[
        "items"
    ]
    before = await factory.snapshot()
    bodies: list[dict[str, Any]] = [
        {"action": "mute"},
        {"action": "warn", "mute_minutes": 5},
        {"action": "ban"},
        {"action": "mute", "mute_minutes": 0},
    ]
    for body in bodies:
        bad = await api.post(f"/reports/{item['id']}/resolve", headers=admin.headers, json=body)
        assert bad.status_code == 422, body
    for path in ("/reports/999999/resolve", "/reports/abc/resolve"):
        missing = await api.post(path, headers=admin.headers, json={"action": "dismiss"})
        assert missing.status_code in (404, 422), path
    assert await factory.snapshot() == before
