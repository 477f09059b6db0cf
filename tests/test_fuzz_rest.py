"""Issue 13: schemathesis over /api/v1/openapi.json, every operation, as an anonymous caller,
a student, a teacher and an org admin. No 5xx, every response as declared (status, media type,
body schema), and a refused call changes no table.

Hypothesis runs in a worker thread (schemathesis calls over blocking HTTP), against the real
uvicorn that serves the session's hub on this event loop; digests hop back onto the loop.
Examples are few per operation and derandomized, so CI is bounded and reproducible.
"""

from __future__ import annotations

import asyncio
import os
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
from tests.support import Factory

__all__ = ["generous_limits"]

SCHEMA = schemathesis.openapi.from_dict(build_openapi(ENDPOINTS, API_PREFIX, "1"))


def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, except the tutor's 503 saying it is not configured (no model server here)."""
    if response.status_code < 500:
        return None
    code = (response.json() or {}).get("error", {}).get("code") if response.content else None
    if response.status_code == 503 and code == "tutor_not_configured":
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Calls that end the caller's session run last, so they do not turn the rest into 401s.
SESSION_ENDERS = ("POST /api/v1/auth/logout", "DELETE /api/v1/users/me")
# Each generated case is sent by every caller: generating is the dear part, sending is cheap.
# CI runs 2 per operation (~1,000 calls in all); FUZZ_EXAMPLES=50 makes a long run by hand.
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "2"))
CALLERS = ("anonymous", "student", "teacher", "org_admin")


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


Digest = Callable[[], dict[str, tuple[int, int]]]


@dataclass
class Run:
    """One fuzzing pass: where to call, as whom, and what the tables looked like last."""

    base_url: str
    callers: dict[str, dict[str, str]]
    known: dict[str, str]
    digest: Digest
    findings: Findings = field(default_factory=Findings)
    session: requests.Session = field(default_factory=requests.Session)
    tables: dict[str, tuple[int, int]] = field(default_factory=dict)

    def send(self, op: Any, case: Any, first: bool) -> None:
        for role, headers in self.callers.items():
            if role == "anonymous" and not first and op.definition.raw.get("security"):
                continue  # refused before its input is read: once per operation is enough
            response = case.call(
                base_url=self.base_url, session=self.session, headers=headers, timeout=10
            )
            label = f"{op.label} as {role} -> {response.status_code}"
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (AssertionError, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup
                self.findings.failed(label, exc)
            # Every call is digested after; that digest is the next call's "before".
            before, self.tables = self.tables, self.digest()
            if 400 <= response.status_code < 500:
                moved = changed(before, self.tables)
                if moved:
                    self.findings.add(label, f"refused, but changed {moved}")


def _operations() -> list[Any]:
    # Err results are operations schemathesis could not read: a broken document fails here.
    ops = [result.ok() for result in SCHEMA.get_all_operations()]  # type: ignore[union-attr]
    return sorted(ops, key=lambda op: op.label in SESSION_ENDERS)


def _fuzz_operation(run: Run, op: Any) -> None:
    names = {p.name for p in op.path_parameters}
    real = {n: run.known[n] for n in names if n in run.known}
    strategy = st.one_of(
        op.as_strategy(path_parameters=real) if real else op.as_strategy(),
        op.as_strategy(),
        op.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    sent: list[Any] = []

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def fuzz(case: Any) -> None:
        run.send(op, case, first=not sent)
        sent.append(case)

    fuzz()


def _fuzz(run: Run) -> list[str]:
    run.tables = run.digest()
    for op in _operations():
        try:
            _fuzz_operation(run, op)
        except (Exception, BaseExceptionGroup) as exc:
            run.findings.failed(f"{op.label} crashed", exc)
    run.session.close()
    return run.findings.items


@pytest.mark.timeout(240)
async def test_every_operation_answers_as_declared_and_refusals_change_nothing(
    api: httpx.AsyncClient,
    factory: Factory,
    hub_server: tuple[str, Any],
    generous_limits: None,
) -> None:
    """Every operation, fuzzed as an anonymous caller, a student, a teacher and an org admin:
    no 5xx, responses match the document, refused calls leave every table as it was."""
    school = await build_school(api, factory, "Fuzz School")
    callers = {"anonymous": {}, **{r: u.headers for r, u in school.people.items()}}
    assert tuple(callers) == CALLERS
    loop = asyncio.get_running_loop()
    tables = TableDigest(factory.owner_dsn)

    def digest() -> dict[str, tuple[int, int]]:
        return asyncio.run_coroutine_threadsafe(tables(), loop).result(30)

    try:
        findings = await asyncio.to_thread(_fuzz, Run(hub_server[0], callers, school.ids, digest))
    finally:
        await tables.close()
    assert not findings, "\n".join(findings)


# --- what the fuzzer found, pinned ---------------------------------------------------------


async def test_ints_past_what_postgresql_holds_are_422_not_500(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A drift-review version past int4, a negative page size or a seq past bigint reached
    PostgreSQL and answered 500; each is now a 422 that names the field."""
    school = await build_school(api, factory, "Bounds School")
    t, ids = school.teacher, school.ids
    calls = [
        api.post(
            f"/items/{ids['item_id']}/parameters/review",
            json={"version": 2**40, "accept": True},
            headers=t.headers,
        ),
        api.get(
            f"/tutor/conversations/{ids['conversation_id']}/messages?limit=-1", headers=t.headers
        ),
        api.get(
            f"/tutor/conversations/{ids['conversation_id']}/messages?before={2**70}",
            headers=t.headers,
        ),
        api.get(f"/items?org_id={ids['org_id']}&offset={2**70}", headers=t.headers),
        api.get(f"/audit-log?before_id={2**70}", headers=t.headers),
    ]
    for response in [await c for c in calls]:
        assert response.status_code == 422, (response.request.url, response.text)
        assert response.json()["error"]["code"] == "validation_error"


async def test_refusals_without_a_body_now_carry_the_error_envelope(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A tus PATCH of the wrong content type (415) answered with no body, against the
    document's promise of an error object; it now carries one, and tus' headers."""
    school = await build_school(api, factory, "Envelope School")
    patch = await api.patch(
        f"/files/tus/{school.ids['upload_id']}",
        content=b"abc",
        headers={**school.teacher.headers, "Content-Type": "text/plain", "Upload-Offset": "0"},
    )
    assert patch.status_code == 415
    assert patch.json()["error"]["code"] == "unsupported_media_type"
    assert patch.headers["tus-resumable"] == "1.0.0"


def test_the_document_declares_what_routes_really_answer() -> None:
    """Downloads, streams and tus declare their own replies; report ids and device tokens are
    not UUIDs; every operation may answer 503 while a dependency is down."""
    doc = build_openapi(ENDPOINTS, API_PREFIX, "1")
    paths = doc["paths"]
    assert set(paths["/api/v1/files/{file_id}"]["get"]["responses"]) >= {"200", "206"}
    assert set(paths["/api/v1/files/tus/{upload_id}"]["head"]["responses"]) >= {"200"}
    assert (
        "text/event-stream"
        in paths["/api/v1/tutor/questions"]["post"]["responses"]["200"]["content"]
    )
    resolve = paths["/api/v1/reports/{report_id}/resolve"]["post"]["parameters"][0]
    assert resolve["schema"].get("format") != "uuid"
    assert all("503" in op["responses"] for ops in paths.values() for op in ops.values())


async def test_a_roster_that_is_not_csv_is_a_422(api: httpx.AsyncClient, factory: Factory) -> None:
    """A bare carriage return in an unquoted field (csv.Error) and cells past the header (a
    list under the key None) were 500s: the first is refused as invalid CSV with nothing
    imported, the second imports its line and ignores the extra cells."""
    school = await build_school(api, factory, "Roster School")
    url, headers = f"/classes/{school.ids['class_id']}/roster", school.admin.headers
    before = await factory.snapshot()
    broken = await api.post(
        url, json={"csv": "role,name,email,student_email\nstudent,A\rB,x@y.kr,\n"}, headers=headers
    )
    assert broken.status_code == 422, broken.text
    assert broken.json()["error"]["code"] == "validation_error"
    assert await factory.snapshot() == before
    extra = await api.post(
        url,
        json={"csv": "role,name,email,student_email\nstudent,A,a@y.kr,,extra,cells\n"},
        headers=headers,
    )
    assert extra.status_code == 201, extra.text
