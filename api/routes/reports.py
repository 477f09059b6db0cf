"""The report queue: /organizations/{id}/reports and /reports/{id}/resolve (org admins)."""

from __future__ import annotations

from typing import Any

from api.endpoint import Call, endpoint
from hub.chat import reports
from hub.errors import DomainError, ErrorCode
from schema.models.reports import ReportList, ReportQuery, ReportResolve, ReportResolved


@endpoint(
    "GET",
    "/organizations/{org_id}/reports",
    summary="Reported messages of the organization, each with its context (admins)",
    query=ReportQuery,
    response=ReportList,
    tag="moderation",
)
async def queue(call: Call) -> dict[str, Any]:
    q: ReportQuery = call.query
    org_id = call.path_uuid("org_id")
    return {"items": await reports.list_reports(call.ctx, call.user, org_id, q.status, q.limit)}


@endpoint(
    "POST",
    "/reports/{report_id}/resolve",
    summary="Dismiss, delete the message, warn or mute its sender; the reporter is told",
    body=ReportResolve,
    response=ReportResolved,
    tag="moderation",
)
async def resolve(call: Call) -> dict[str, Any]:
    raw = call.request.path_params["report_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise DomainError(
            ErrorCode.VALIDATION,
            f"report_id: '{raw[:60]}' is not a report number",
            fields=[{"field": "report_id", "message": "not a report number"}],
        )
    return await reports.resolve_report(call.ctx, call.user, int(raw), call.body, call.meta)


ENDPOINTS = [queue, resolve]
