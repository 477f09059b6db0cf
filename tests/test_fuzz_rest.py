"""Issue 13: schemathesis over /api/v1/openapi.json, every operation, as an anonymous caller,
a student, a teacher and an org admin. No 5xx, every response as declared (status, media type,
body schema), and a refused call changes no table.

Hypothesis runs in a worker thread (schemathesis calls over blocking HTTP), against the real
uvicorn that serves the session's hub on this event loop; digests hop back onto the loop.
Examples are few per operation and derandomized, so CI is bounded and reproducible.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import API_PREFIX, ENDPOINTS
from api.openapi import build_openapi
from tests.fuzz_support import TableDigest, changed, generous_limits
from tests.fuzz_world import build_school
from tests.support import Factory, User

__all__ = ["generous_limits"]

SCHEMA = schemathesis.openapi.from_dict(build_openapi(ENDPOINTS, API_PREFIX, "1"))


def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, except the tutor's 503 saying it is not configured (no model server here)."""
    if response.status_code < 500:
        return None
    code = (response.json() or {}).get("error", {}).get("code") if response.content else None
    if response.status_code == 503 and code == "tutor_not_configured":
        return None
    return not_a_server_error(ctx, response, case)  # type: ignore[no-any-return]


CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Calls that end the caller's session run last, so they do not turn the rest into 401s.
SESSION_ENDERS = ("POST /api/v1/auth/logout", "DELETE /api/v1/users/me")
EXAMPLES = {"anonymous": 2, "student": 4, "teacher": 4, "org_admin": 4}


@dataclass
class Findings:
    items: list[str] = field(default_factory=list)

    def add(self, label: str, problem: str) -> None:
        self.items.append(f"{label}: {problem}"[:600])

    def failed(self, label: str, exc: BaseException) -> None:
        """One line per failure: schemathesis groups them, each with a title and a message."""
        parts = getattr(exc, "exceptions", None) or [exc]
        for part in parts:
            text = " / ".join(line.strip() for line in str(part).splitlines() if line.strip())
            self.add(label, f"{type(part).__name__}: {text}")


@dataclass
class Tables:
    now: dict[str, tuple[int, int]]


def _operations() -> list[Any]:
    ops = [result.ok() for result in SCHEMA.get_all_operations()]
    return sorted(ops, key=lambda op: op.label in SESSION_ENDERS)


def _fuzz_one(
    op: Any,
    base_url: str,
    session: requests.Session,
    headers: dict[str, str],
    known: dict[str, str],
    examples: int,
    digest: Callable[[], dict[str, tuple[int, int]]],
    findings: Findings,
    tables: Tables,
) -> None:
    names = {p.name for p in op.path_parameters}
    real = {n: known[n] for n in names if n in known}
    strategy = st.one_of(
        op.as_strategy(path_parameters=real) if real else op.as_strategy(),
        op.as_strategy(),
        op.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        before = tables.now
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=10)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (AssertionError, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup
            findings.failed(f"{op.label} {response.status_code}", exc)
        # Every call is digested after; the last digest is the next call's "before".
        tables.now = digest()
        if 400 <= response.status_code < 500:
            moved = changed(before, tables.now)
            if moved:
                findings.add(op.label, f"{response.status_code} but changed {moved}")

    run()


def _fuzz(
    base_url: str,
    caller: User | None,
    known: dict[str, str],
    examples: int,
    digest: Callable[[], dict[str, tuple[int, int]]],
) -> list[str]:
    findings = Findings()
    tables = Tables(digest())
    session = requests.Session()
    headers = caller.headers if caller else {}
    for op in _operations():
        try:
            _fuzz_one(op, base_url, session, headers, known, examples, digest, findings, tables)
        except (Exception, BaseExceptionGroup) as exc:
            findings.failed(f"{op.label} crashed", exc)
    session.close()
    return findings.items


@pytest.mark.timeout(120)
@pytest.mark.parametrize("role", list(EXAMPLES))
async def test_every_operation_answers_as_declared_and_refusals_change_nothing(
    role: str,
    api: httpx.AsyncClient,
    factory: Factory,
    hub_server: tuple[str, Any],
    generous_limits: None,
) -> None:
    """Every operation, fuzzed as this role: no 5xx, responses match the document, refused
    calls leave every table as it was."""
    school = await build_school(api, factory, "Fuzz School")
    caller = None if role == "anonymous" else school.people[role]
    loop = asyncio.get_running_loop()
    tables = TableDigest(factory.owner_dsn)

    def digest() -> dict[str, tuple[int, int]]:
        return asyncio.run_coroutine_threadsafe(tables(), loop).result(30)

    try:
        findings = await asyncio.to_thread(
            _fuzz, hub_server[0], caller, school.ids, EXAMPLES[role], digest
        )
    finally:
        await tables.close()
    assert not findings, "\n".join(findings)
