"""A proctoring socket joins its user's room before its checks and checks again after joining:
a logout or the end of the attempt while it connects cannot leave it alive."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest

from hub.context import Actor, HubContext
from hub.proctor import roster, seats
from tests.sockets import Refused
from tests.support import Factory
from tests.test_proctor import Open, _sitting, _student, proctor, sockets  # noqa: F401


@pytest.mark.parametrize("what", ["logout", "submit"])
async def test_what_happens_during_the_checks_is_not_missed(
    api: httpx.AsyncClient,
    factory: Factory,
    proctor: Open,  # noqa: F811
    hub_ctx: HubContext,
    monkeypatch: pytest.MonkeyPatch,
    what: str,
) -> None:
    """The student signs out (or hands in) right after the seat check: the exam client is
    refused, and the roster does not keep it."""
    sit = await _sitting(api, factory)
    take_seat = seats.take_seat

    async def raced(ctx: HubContext, actor: Actor, attempt_id: UUID, sid: str) -> Any:
        seat = await take_seat(ctx, actor, attempt_id, sid)
        if what == "logout":
            response = await api.post("/auth/logout", headers=sit.student.headers)
        else:
            response = await api.post(
                f"/exams/{sit.exam['id']}/submit", headers=sit.student.headers
            )
        assert response.status_code in (200, 204), response.text
        return seat

    monkeypatch.setattr(seats, "take_seat", raced)
    with pytest.raises(Refused) as refused:
        await proctor(_student(sit.student, sit.attempt))
    code = {"logout": "session_revoked", "submit": "attempt_finished"}[what]
    assert refused.value.data["data"] == {"code": code}
    teacher = Actor(sit.teacher.id, sit.teacher.session_id)
    state = await roster.exam_roster(hub_ctx, teacher, UUID(sit.exam["id"]))
    assert [a["connected"] for a in state["attempts"]] == [False]
