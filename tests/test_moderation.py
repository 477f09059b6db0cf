"""Profanity is masked or refused as each organization chose."""

from __future__ import annotations

import uuid

import httpx

from tests.support import Factory, error_of


async def test_org_admin_sets_profanity_mode_and_sends_obey_it(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """mask stores a masked text, refuse answers 422 and stores nothing, off lets it through."""
    org = await factory.org()
    admin, teacher = await factory.user("org_admin", org), await factory.user("teacher", org)
    student = await factory.user("student", org)
    conv = await factory.conversation("group", org, [teacher], [student])
    assert (await api.get(f"/organizations/{org.id}/settings", headers=student.headers)).json() == {
        "profanity": "mask"
    }

    async def send(text: str) -> httpx.Response:
        return await api.post(
            f"/conversations/{conv}/messages",
            headers=student.headers,
            json={"client_msg_id": uuid.uuid4().hex, "content": text},
        )

    masked = await send("아 씨발 숙제 너무 많아")
    assert masked.status_code == 201
    stored = await factory.fetchval(
        "SELECT content FROM messages WHERE id = $1::uuid", masked.json()["id"]
    )
    assert stored == "아 ** 숙제 너무 많아"

    denied = await api.put(
        f"/organizations/{org.id}/settings", headers=teacher.headers, json={"profanity": "refuse"}
    )
    assert denied.status_code == 403
    changed = await api.put(
        f"/organizations/{org.id}/settings", headers=admin.headers, json={"profanity": "refuse"}
    )
    assert changed.status_code == 200 and changed.json() == {"profanity": "refuse"}
    before = await factory.snapshot()
    refused = await send("this homework is shit")
    assert refused.status_code == 422 and error_of(refused)["field"] == "content"
    assert await factory.snapshot() == before
    assert (await send("this homework is hard")).status_code == 201

    await api.put(
        f"/organizations/{org.id}/settings", headers=admin.headers, json={"profanity": "off"}
    )
    through = await send("shit happens")
    assert (
        await factory.fetchval(
            "SELECT content FROM messages WHERE id = $1::uuid", through.json()["id"]
        )
        == "shit happens"
    )
    bad = await api.put(
        f"/organizations/{org.id}/settings", headers=admin.headers, json={"profanity": "sometimes"}
    )
    assert bad.status_code == 422
    assert (
        await factory.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'organization.settings'"
        )
        == 2
    )
