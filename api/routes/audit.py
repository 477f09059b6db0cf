"""The audit log, for system and zone administrators."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import Field

from api.endpoint import Call, endpoint
from hub.accounts import audit
from schema.models.accounts import AuditPage
from schema.models.common import Request


class AuditQuery(Request):
    before_id: Annotated[int, Field(gt=0, le=2**62)] | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    action: Annotated[str, Field(max_length=80)] | None = None
    zone_id: UUID | None = None


@endpoint(
    "GET",
    "/audit-log",
    summary="Audit entries, newest first",
    query=AuditQuery,
    response=AuditPage,
    tag="audit",
)
async def audit_log(call: Call) -> dict[str, Any]:
    q: AuditQuery = call.query
    items, next_before = await audit.list_entries(
        call.ctx,
        call.user,
        before_id=q.before_id,
        limit=q.limit,
        action=q.action,
        zone_id=q.zone_id,
    )
    return {"items": items, "next_before_id": next_before}


ENDPOINTS = [audit_log]
