"""Data-protection rights: erasure on request (administrators) and its proof; exports."""

from __future__ import annotations

from api.endpoint import Call, endpoint
from hub.privacy import requests
from hub.privacy.requests import Erasure
from schema.models.privacy import ErasureOut


@endpoint(
    "POST",
    "/users/{user_id}/erasure",
    summary="Erase a person's account on their request (administrators); asking twice is one "
    "erasure",
    response=ErasureOut,
    status=202,
    tag="privacy",
)
async def request_erasure(call: Call) -> Erasure:
    return await requests.request_erasure(call.ctx, call.user, call.path_uuid("user_id"))


@endpoint(
    "GET",
    "/erasures/{erasure_id}",
    summary="The proof of an erasure: counts per table, a hash of the identifiers, who asked",
    response=ErasureOut,
    tag="privacy",
)
async def erasure(call: Call) -> Erasure:
    return await requests.get_erasure(call.ctx, call.user, call.path_uuid("erasure_id"))


ENDPOINTS = [request_erasure, erasure]
