"""Consent at sign-up: terms, privacy and data processing are mandatory in their current
version and recorded with the address; withdrawing push consent stops pushes."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import Factory, error_of

REQUIRED = ("terms_of_service", "privacy_policy", "data_processing")


def _body(consents: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "email": "seoyeon@example.com",
        "password": "s3cret-enough",
        "display_name": "이서연",
        "consents": consents,
    }


def _granted(*kinds: str, version: str = "2026-01") -> list[dict[str, Any]]:
    return [{"kind": k, "version": version, "granted": True} for k in kinds]


async def test_sign_up_without_every_required_consent_is_refused(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """No consents, one missing, one refused or an old version: 422 naming what is missing."""
    before = await factory.snapshot()
    absent = await api.post("/auth/register", json={**_body([]), "consents": None})
    assert absent.status_code == 422 and error_of(absent)["code"] == "validation_error"
    for consents, missing in (
        ([], list(REQUIRED)),
        (_granted("terms_of_service", "privacy_policy"), ["data_processing"]),
        (
            [*_granted("terms_of_service", "data_processing"),
             {"kind": "privacy_policy", "version": "2026-01", "granted": False}],
            ["privacy_policy"],
        ),
        (_granted(*REQUIRED, version="2025-01"), list(REQUIRED)),
    ):  # fmt: skip
        refused = await api.post("/auth/register", json=_body(consents))
        assert refused.status_code == 422, refused.text
        error = error_of(refused)
        assert error["field"] == "consents" and error["missing"] == missing
    assert await factory.snapshot() == before


async def test_sign_up_records_each_consent_with_its_version_and_address(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """The three required consents (and an optional refusal of marketing) are stored."""
    consents = [
        *_granted(*REQUIRED),
        {"kind": "marketing", "version": "2026-01", "granted": False},
    ]
    done = await api.post("/auth/register", json=_body(consents))
    assert done.status_code == 202, done.text
    rows = await factory.fetch(
        "SELECT kind, version, granted, host(ip) AS ip FROM consents "
        "WHERE user_id = (SELECT id FROM users WHERE email = $1) ORDER BY kind",
        "seoyeon@example.com",
    )
    assert [(r["kind"], r["granted"]) for r in rows] == [
        ("data_processing", True),
        ("marketing", False),
        ("privacy_policy", True),
        ("terms_of_service", True),
    ]
    assert {r["ip"] for r in rows} == {"127.0.0.1"} and {r["version"] for r in rows} == {"2026-01"}


async def test_withdrawing_push_consent_forgets_the_devices(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """After withdrawal no device token of the person is kept, so nothing is pushed."""
    org = await factory.org()
    user = await factory.user("student", org)
    await factory.fetch(
        "INSERT INTO devices (token, user_id, platform) VALUES ('tok-1', $1, 'ios')", user.id
    )
    withdrawn = await api.post(
        "/consents",
        json={"kind": "push_notifications", "version": "2026-01", "granted": False},
        headers=user.headers,
    )
    assert withdrawn.status_code == 201, withdrawn.text
    assert await factory.fetchval("SELECT count(*) FROM devices WHERE user_id = $1", user.id) == 0
