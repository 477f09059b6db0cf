"""Rate limits, body limits, error shape, health, metrics and the OpenAPI document."""

from __future__ import annotations

from typing import Any

import httpx

from hub.settings import Settings
from tests.support import Factory, FrozenClock, error_of


async def test_rate_limit_per_user(
    api: httpx.AsyncClient, factory: Factory, settings: Settings, clock: FrozenClock
) -> None:
    """The 101st request in a minute is a 429 with Retry-After; another user is unaffected."""
    user, other = await factory.user(), await factory.user()
    statuses = [
        (await api.get("/users/me", headers=user.headers)).status_code
        for _ in range(settings.rate_limit_per_minute)
    ]
    assert statuses == [200] * settings.rate_limit_per_minute
    limited = await api.get("/users/me", headers=user.headers)
    assert limited.status_code == 429
    assert error_of(limited)["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) == 1
    assert (await api.get("/users/me", headers=other.headers)).status_code == 200
    # The budget refills smoothly: one request's worth every 60/limit seconds.
    clock.advance(seconds=60 / settings.rate_limit_per_minute)
    assert (await api.get("/users/me", headers=user.headers)).status_code == 200
    assert (await api.get("/users/me", headers=user.headers)).status_code == 429


async def test_rate_limit_per_ip_before_login(
    api: httpx.AsyncClient, settings: Settings, clock: FrozenClock
) -> None:
    """Unauthenticated requests are limited per client address (login is limited by its
    failures instead: tests/test_hardening_auth.py)."""
    body = {"email": "nobody@example.com", "password": "whatever-it-is"}
    for _ in range(settings.rate_limit_per_minute):
        response = await api.post("/auth/refresh", json={"refresh_token": "y" * 40})
        assert response.status_code == 401
    limited = await api.post("/auth/register", json={**body, "display_name": "Nobody"})
    assert limited.status_code == 429 and "retry-after" in limited.headers


async def test_oversized_body_is_refused(
    api: httpx.AsyncClient, settings: Settings, factory: Factory
) -> None:
    """A body over the limit is a 413, whether announced by Content-Length or streamed."""
    before = await factory.snapshot()
    big = b'{"email": "' + b"a" * settings.max_body_bytes + b'"}'
    response = await api.post(
        "/auth/register", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413 and error_of(response)["code"] == "payload_too_large"

    async def chunks() -> Any:
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b" " * 65536

    streamed = await api.post("/auth/register", content=chunks())
    assert streamed.status_code == 413
    assert await factory.snapshot() == before


async def test_unknown_route_and_method_are_json(api: httpx.AsyncClient) -> None:
    """Unknown paths and wrong methods answer with the same error envelope."""
    missing = await api.get("/nope")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    wrong = await api.delete("/auth/login")
    assert wrong.status_code == 405 and "code" in error_of(wrong)


async def test_non_uuid_path_parameter(api: httpx.AsyncClient, factory: Factory) -> None:
    """A path id that is not a UUID is a 422 naming the parameter."""
    user = await factory.user()
    response = await api.get("/organizations/not-a-uuid", headers=user.headers)
    assert response.status_code == 422 and "org_id" in error_of(response)["message"]


async def test_unexpected_query_parameter_is_refused(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """Query strings are validated like bodies: an unknown parameter names itself."""
    admin = await factory.user(sys_admin=True)
    response = await api.get("/audit-log?limit=5&colour=blue", headers=admin.headers)
    assert response.status_code == 422
    assert "colour" in [f["field"] for f in error_of(response)["fields"]]
    too_many = await api.get("/audit-log?limit=1000", headers=admin.headers)
    assert too_many.status_code == 422 and "limit" in error_of(too_many)["message"]


async def test_health_and_metrics(hub_server: tuple[str, Any], api: httpx.AsyncClient) -> None:
    """/healthz answers, and refusals show up in the Prometheus metrics."""
    await api.get("/users/me")
    async with httpx.AsyncClient(base_url=hub_server[0]) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        metrics = (await client.get("/metrics")).text
    assert 'dreamseed_errors_total{code="unauthenticated",transport="rest"}' in metrics
    assert "dreamseed_http_request_seconds_bucket" in metrics


async def test_openapi_is_built_from_the_request_models(api: httpx.AsyncClient) -> None:
    """The OpenAPI document lists every route and the same constraints the validators apply."""
    doc = (await api.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    for path in (
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/users/me",
        "/api/v1/organizations",
        "/api/v1/organizations/{org_id}",
        "/api/v1/organizations/{org_id}/members",
        "/api/v1/parent/link-student",
        "/api/v1/student/approve-parent/{link_id}",
        "/api/v1/student/reject-parent/{link_id}",
        "/api/v1/consents",
        "/api/v1/audit-log",
    ):
        assert path in doc["paths"], path
    register = doc["components"]["schemas"]["RegisterRequest"]
    assert set(register["required"]) == {"email", "password", "display_name", "consents"}
    assert register["additionalProperties"] is False
    assert register["properties"]["password"]["minLength"] == 8
    assert doc["paths"]["/api/v1/users/me"]["get"]["security"] == [{"bearer": []}]


async def test_rate_limiter_accepts_limits_that_do_not_divide_a_minute(
    redis: object, settings: Settings
) -> None:
    """A limit like 7 or 1,000,000 a minute works (fractional intervals once broke Redis)."""
    from redis.asyncio import Redis

    from hub.keys import RedisKeys
    from hub.ratelimit import RateLimiter

    assert isinstance(redis, Redis)
    keys = RedisKeys(settings.redis_namespace)
    for limit in (7, 120_000, 1_000_000):
        limiter = RateLimiter(redis, limit, 60)
        decisions = [await limiter.hit(keys.rate_limit(f"odd-{limit}"), 1_000) for _ in range(8)]
        assert [d.allowed for d in decisions] == (
            [True] * 7 + [False] if limit == 7 else [True] * 8
        )
