"""Invitation codes and links: admins make them for a school or a class; people join by
redeeming one (their consent), within its uses and before it expires."""

from __future__ import annotations

import uuid

import httpx

from tests.exam_support import make_class
from tests.support import Factory, FrozenClock, error_of


async def test_class_invitation_lets_its_uses_join_then_runs_out(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Two students join the class with a two-use code (typed loosely); a third is refused;
    redeeming twice counts once."""
    org = await factory.org()
    admin = await factory.user("org_admin", org)
    class_id = await make_class(factory, org, [])
    made = await api.post(
        f"/organizations/{org.id}/invitations",
        headers=admin.headers,
        json={"role": "student", "class_id": str(class_id), "max_uses": 2},
    )
    assert made.status_code == 201, made.text
    code = made.json()["code"]
    assert made.json()["link"].endswith(f"/join/{code}") and made.json()["uses"] == 0
    first, second, third = [await factory.user() for _ in range(3)]
    typed = f"{code[:5].lower()}-{code[5:]}"
    for person in (first, second):
        joined = await api.post("/invitations/redeem", headers=person.headers, json={"code": typed})
        assert joined.status_code == 200, joined.text
        assert joined.json() == {
            "org_id": str(org.id),
            "class_id": str(class_id),
            "role": "student",
            "already": False,
        }
    again = await api.post("/invitations/redeem", headers=first.headers, json={"code": code})
    assert again.json()["already"] is True
    before = await factory.snapshot()
    full = await api.post("/invitations/redeem", headers=third.headers, json={"code": code})
    assert full.status_code == 409 and error_of(full)["code"] == "invitation_invalid"
    assert await factory.snapshot() == before
    members = await factory.fetch(
        "SELECT user_id FROM class_members WHERE class_id = $1 AND role = 'student'", class_id
    )
    assert {r["user_id"] for r in members} == {first.id, second.id}
    listed = await api.get(f"/organizations/{org.id}/invitations", headers=admin.headers)
    assert [i["uses"] for i in listed.json()["items"]] == [2]


async def test_expired_and_revoked_codes_are_refused(
    api: httpx.AsyncClient, factory: Factory, clock: FrozenClock
) -> None:
    """A code past its hours, or revoked, is 409 and nobody joins; an unknown code is 404."""
    org = await factory.org()
    admin = await factory.user("org_admin", org)
    person = await factory.user()
    codes = []
    for hours in (24, 24):
        made = await api.post(
            f"/organizations/{org.id}/invitations",
            headers=admin.headers,
            json={"role": "parent", "max_uses": 30, "expires_in_hours": hours},
        )
        codes.append(made.json())
    revoked = await api.delete(f"/invitations/{codes[1]['id']}", headers=admin.headers)
    assert revoked.status_code == 204
    refused = await api.post(
        "/invitations/redeem", headers=person.headers, json={"code": codes[1]["code"]}
    )
    assert refused.status_code == 409
    clock.advance(hours=25)
    expired = await api.post(
        "/invitations/redeem", headers=person.headers, json={"code": codes[0]["code"]}
    )
    assert expired.status_code == 409 and "expired" in error_of(expired)["message"]
    unknown = await api.post(
        "/invitations/redeem", headers=person.headers, json={"code": "ZZZZZZZZZZ"}
    )
    assert unknown.status_code == 404
    assert (
        await factory.fetchval("SELECT count(*) FROM memberships WHERE user_id = $1", person.id)
        == 0
    )


async def test_only_the_schools_admins_make_invitations(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A teacher gets 403, another school's admin 404, another school's class 404; bad
    numbers 422; nothing is stored."""
    org, other = await factory.org(), await factory.org()
    admin, teacher = await factory.user("org_admin", org), await factory.user("teacher", org)
    stranger = await factory.user("org_admin", other)
    their_class = await make_class(factory, other, [])
    before = await factory.snapshot()
    path = f"/organizations/{org.id}/invitations"
    assert (
        await api.post(path, headers=teacher.headers, json={"role": "student"})
    ).status_code == 403
    assert (
        await api.post(path, headers=stranger.headers, json={"role": "student"})
    ).status_code == 404
    wrong_class = await api.post(
        path, headers=admin.headers, json={"role": "student", "class_id": str(their_class)}
    )
    assert wrong_class.status_code == 404
    for body in ({"role": "student", "max_uses": 0}, {"role": "king"}, {"role": "student", "x": 1}):
        assert (await api.post(path, headers=admin.headers, json=body)).status_code == 422
    assert (await api.get(path, headers=teacher.headers)).status_code == 403
    missing = await api.delete(f"/invitations/{uuid.uuid4()}", headers=admin.headers)
    assert missing.status_code == 404
    assert await factory.snapshot() == before
