"""The app answers over a real socket with real PostgreSQL and Redis behind it."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import Factory


async def test_readyz_reports_both_services(hub_server: tuple[str, Any]) -> None:
    """/readyz is 200 only when PostgreSQL and Redis both answer."""
    async with httpx.AsyncClient(base_url=hub_server[0]) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"postgres": True, "redis": True, "bus": True},
    }


async def test_me_with_factory_token(api: httpx.AsyncClient, factory: Factory) -> None:
    """A token minted for a factory user is accepted by /users/me."""
    org = await factory.org()
    user = await factory.user("teacher", org)
    response = await api.get("/users/me", headers=user.headers)
    assert response.status_code == 200, response.text
    assert response.json()["memberships"] == [
        {"org_id": str(org.id), "zone_id": str(org.zone_id), "role": "teacher"}
    ]
