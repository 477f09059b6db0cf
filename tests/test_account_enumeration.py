"""Login and registration do not tell a stranger whether an e-mail has an account here
(issue 13 §4): the same answer, and the same argon2 work, either way."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, Literal

import httpx
import pytest
from argon2 import PasswordHasher

from hub import passwords
from hub.context import HubContext
from hub.jobs import ArqJobs
from tests.support import Factory, User

CONSENTS = [
    {"kind": kind, "version": "2026-01", "granted": True}
    for kind in ("terms_of_service", "privacy_policy", "data_processing")
]


class _CountingHasher(PasswordHasher):
    """The hub's real hasher, counting the argon2 computations it makes (hash and verify
    each run the full memory-hard function)."""

    def __init__(self, inner: PasswordHasher) -> None:
        super().__init__(
            time_cost=inner.time_cost,
            memory_cost=inner.memory_cost,
            parallelism=inner.parallelism,
        )
        self.calls: Counter[str] = Counter()

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.calls["argon2"] += 1
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.calls["argon2"] += 1
        return super().verify(hash, password)


@pytest.fixture
def argon2_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    hasher = _CountingHasher(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", hasher)
    yield hasher.calls


def _registration(email: str) -> dict[str, Any]:
    return {
        "email": email,
        "password": "another-pass-1",
        "display_name": "Someone",
        "consents": CONSENTS,
    }


async def _notices_to(hub_ctx: HubContext, user: User) -> list[Any]:
    assert isinstance(hub_ctx.jobs, ArqJobs)
    jobs = await hub_ctx.jobs.pool.queued_jobs(queue_name=hub_ctx.keys.job_queue)
    return [j for j in jobs if j.function == "notify_users" and j.args[0] == [str(user.id)]]


async def test_login_with_an_unknown_email_and_a_wrong_password_look_the_same(
    api: httpx.AsyncClient, factory: Factory, argon2_calls: Counter[str]
) -> None:
    """An unknown e-mail and a known one with a wrong password get the same 401 body, and
    each costs exactly one argon2 verification, as the right password does."""
    user = await factory.user()
    answers = []
    for email, password in (
        ("nobody-here@test.dreamseed.kr", "wrong-password-1"),
        (user.email, "wrong-password-1"),
        (user.email, user.password),
    ):
        before = argon2_calls["argon2"]
        answers.append(await api.post("/auth/login", json={"email": email, "password": password}))
        assert argon2_calls["argon2"] - before == 1, email
    unknown, wrong, right = answers
    assert (unknown.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert unknown.json() == wrong.json()
    assert unknown.headers.keys() == wrong.headers.keys()


async def test_registering_a_taken_email_answers_as_a_new_one_and_tells_its_owner(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext, argon2_calls: Counter[str]
) -> None:
    """A new e-mail and one that has an account (in other letter case) get the same 202 and
    body after one argon2 hash each; the taken one changes no account and its owner is told
    by a notice instead (once, however often it is tried within the hour)."""
    owner = await factory.user()
    fresh = await api.post("/auth/register", json=_registration("brand-new@test.dreamseed.kr"))
    assert argon2_calls["argon2"] == 1
    before = await factory.snapshot()
    taken = await api.post("/auth/register", json=_registration(owner.email.upper()))
    again = await api.post("/auth/register", json=_registration(owner.email))
    assert argon2_calls["argon2"] == 3
    assert fresh.status_code == taken.status_code == again.status_code == 202, taken.text
    assert fresh.json() == taken.json() == again.json()
    assert await factory.snapshot() == before
    (notice,) = await _notices_to(hub_ctx, owner)
    assert notice.args[1] == "account_notice" and "가입 시도" in notice.args[2]  # in Korean
    signed_in = await api.post(
        "/auth/login",
        json={"email": "brand-new@test.dreamseed.kr", "password": "another-pass-1"},
    )
    assert signed_in.status_code == 200
    refused = await api.post(
        "/auth/login", json={"email": owner.email, "password": "another-pass-1"}
    )
    assert refused.status_code == 401  # the stranger's password opened nothing
