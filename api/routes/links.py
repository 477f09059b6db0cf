"""Parent–student links."""

from __future__ import annotations

from typing import Any

from api.endpoint import Call, endpoint
from hub.accounts import links
from schema.models.accounts import LinkList, LinkOut, LinkRequested, LinkStudentRequest


@endpoint(
    "POST",
    "/parent/link-student",
    summary="Ask a student to confirm me as their parent",
    body=LinkStudentRequest,
    response=LinkRequested,
    status=202,
    tag="links",
)
async def request_link(call: Call) -> dict[str, Any]:
    return await links.request_link(call.ctx, call.user, call.body.student_email, call.meta)


@endpoint(
    "POST",
    "/student/approve-parent/{link_id}",
    summary="Approve a parent's link request",
    response=LinkOut,
    tag="links",
)
async def approve(call: Call) -> dict[str, Any]:
    return await links.answer_link(call.ctx, call.user, call.path_uuid("link_id"), True, call.meta)


@endpoint(
    "POST",
    "/student/reject-parent/{link_id}",
    summary="Reject a parent's link request",
    response=LinkOut,
    tag="links",
)
async def reject(call: Call) -> dict[str, Any]:
    return await links.answer_link(call.ctx, call.user, call.path_uuid("link_id"), False, call.meta)


@endpoint(
    "GET", "/links", summary="Link requests I sent or received", response=LinkList, tag="links"
)
async def mine(call: Call) -> dict[str, Any]:
    return {"items": await links.list_links(call.ctx, call.user)}


ENDPOINTS = [request_link, approve, reject, mine]
