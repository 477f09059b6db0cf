"""Devices, notification settings and the notification center over REST."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time

import httpx
import pytest

from hub.notify.quiet import in_quiet_hours
from tests.sockets import Client
from tests.support import Factory, User, error_of

TOKEN = "fcm-token-" + "a" * 40


async def test_device_register_move_and_delete(api: httpx.AsyncClient, factory: Factory) -> None:
    """A device token is registered, moves to whoever registers it next, and can be removed."""
    first, second = await factory.user(), await factory.user()
    made = await api.post(
        "/devices", headers=first.headers, json={"platform": "android", "token": TOKEN}
    )
    assert made.status_code == 201 and made.json()["platform"] == "android"
    again = await api.post(
        "/devices", headers=second.headers, json={"platform": "android", "token": TOKEN}
    )
    assert again.status_code == 201
    owners = await factory.fetch("SELECT user_id FROM devices")
    assert [r["user_id"] for r in owners] == [second.id]
    assert (await api.delete(f"/devices/{TOKEN}", headers=first.headers)).status_code == 404
    assert (await api.delete(f"/devices/{TOKEN}", headers=second.headers)).status_code == 204
    bad = await api.post("/devices", headers=first.headers, json={"platform": "fax", "token": "x"})
    assert bad.status_code == 422
    assert {f["field"] for f in error_of(bad)["fields"]} == {"platform", "token"}


async def test_logout_removes_that_sessions_device(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Signing out stops pushes to the signed-out install only."""
    user = await factory.user()
    other = await factory.user(email=None)
    await api.post("/devices", headers=user.headers, json={"platform": "ios", "token": TOKEN})
    await api.post(
        "/devices", headers=other.headers, json={"platform": "web", "token": TOKEN + "b"}
    )
    assert (await api.post("/auth/logout", headers=user.headers)).status_code == 204
    left = await factory.fetch("SELECT token FROM devices")
    assert [r["token"] for r in left] == [TOKEN + "b"]


async def test_conversation_notification_settings(api: httpx.AsyncClient, factory: Factory) -> None:
    """Members read and change muted/push/email per conversation; outsiders get 404."""
    org = await factory.org()
    teacher, parent = await factory.user("teacher", org), await factory.user("parent", org)
    conv = await factory.conversation("announcement", org, [teacher], [parent])
    url = f"/conversations/{conv}/notification-settings"
    assert (await api.get(url, headers=parent.headers)).json() == {
        "muted": False,
        "push": True,
        "email": False,
    }
    changed = await api.put(
        url, headers=parent.headers, json={"muted": False, "push": True, "email": True}
    )
    assert changed.json()["email"] is True
    stranger = await factory.user("parent", await factory.org())
    assert (await api.get(url, headers=stranger.headers)).status_code == 404
    assert (await api.put(url, headers=parent.headers, json={"muted": "loud"})).status_code == 422


async def test_notification_preferences(api: httpx.AsyncClient, factory: Factory) -> None:
    """Quiet hours, digest delay, language and time zone are kept; half a window is refused."""
    user = await factory.user()
    defaults = (await api.get("/users/me/notification-preferences", headers=user.headers)).json()
    assert defaults["quiet_start"] is None and defaults["digest_delay_s"] == 3600
    put = await api.put(
        "/users/me/notification-preferences",
        headers=user.headers,
        json={
            "quiet_start": "22:00",
            "quiet_end": "07:00",
            "digest_delay_s": 1800,
            "language": "en",
            "timezone": "Asia/Seoul",
        },
    )
    assert put.status_code == 200, put.text
    assert put.json() | {} == {
        "quiet_start": "22:00:00",
        "quiet_end": "07:00:00",
        "digest_delay_s": 1800,
        "email_digest": True,
        "language": "en",
        "timezone": "Asia/Seoul",
    }
    half = await api.put(
        "/users/me/notification-preferences", headers=user.headers, json={"quiet_start": "22:00"}
    )
    assert half.status_code == 422


async def test_notification_center_lists_marks_and_pushes_badge(
    api: httpx.AsyncClient, factory: Factory, connect: Callable[[User], Awaitable[Client]]
) -> None:
    """A user sees their notifications newest first; marking read updates the live badge."""
    user, other = await factory.user(), await factory.user()
    for i, owner in enumerate((user, user, other)):
        await factory.fetch(
            """INSERT INTO notifications (user_id, dedup_key, kind, title, body, collapse_key,
                                          created_at)
               VALUES ($1, $2, 'message', $3, 'body', 'k', now() + make_interval(secs => $4))""",
            owner.id,
            f"k{i}",
            f"t{i}",
            i,
        )
    page = (await api.get("/notifications", headers=user.headers)).json()
    assert [n["title"] for n in page["items"]] == ["t1", "t0"] and page["unread"] == 2
    sock = await connect(user)
    sock.sio.on("notification.badge", lambda data: sock.queues["badge"].put_nowait(data))
    first = page["items"][0]["id"]
    assert (await api.post(f"/notifications/{first}/read", headers=user.headers)).json() == {
        "unread": 1
    }
    assert (await asyncio.wait_for(sock.queues["badge"].get(), 5)) == {"unread": 1}
    unread = (await api.get("/notifications?unread_only=true", headers=user.headers)).json()
    assert [n["title"] for n in unread["items"]] == ["t0"]
    assert (await api.post("/notifications/read-all", headers=user.headers)).json() == {"unread": 0}
    theirs = await factory.fetchval("SELECT id FROM notifications WHERE user_id = $1", other.id)
    assert (
        await api.post(f"/notifications/{theirs}/read", headers=user.headers)
    ).status_code == 404


@pytest.mark.parametrize(
    ("utc", "tz", "quiet"),
    [
        ("2026-11-22T13:30:00", "Asia/Seoul", True),  # 22:30 in Seoul
        ("2026-11-22T21:59:00", "Asia/Seoul", True),  # 06:59 next morning
        ("2026-11-22T22:00:00", "Asia/Seoul", False),  # 07:00: over
        ("2026-11-22T03:00:00", "Asia/Seoul", False),  # noon
        ("2026-11-22T13:30:00", "UTC", False),  # 13:30 in London winter
    ],
)
def test_quiet_hours_cross_midnight_in_the_users_zone(utc: str, tz: str, quiet: bool) -> None:
    """22:00–07:00 is judged in the user's own time zone, across midnight."""
    now = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert in_quiet_hours(now, tz, time(22), time(7)) is quiet
    assert in_quiet_hours(now, tz, None, None) is False
