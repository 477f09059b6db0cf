"""Consent records."""

from __future__ import annotations

from typing import Any

from api.endpoint import Call, endpoint
from hub.accounts import consents
from schema.models.accounts import ConsentCreate, ConsentList, ConsentOut


@endpoint(
    "POST",
    "/consents",
    summary="Record a consent decision",
    body=ConsentCreate,
    response=ConsentOut,
    status=201,
    tag="consents",
)
async def record(call: Call) -> dict[str, Any]:
    return await consents.record_consent(call.ctx, call.user, call.body, call.meta)


@endpoint("GET", "/consents", summary="My consent history", response=ConsentList, tag="consents")
async def history(call: Call) -> dict[str, Any]:
    return {"items": await consents.list_consents(call.ctx, call.user)}


ENDPOINTS = [record, history]
