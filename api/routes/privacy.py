"""Data-protection rights: erasure on request (administrators) and its proof; exports."""

from __future__ import annotations

from starlette.responses import StreamingResponse

from api.endpoint import Call, endpoint
from hub.privacy import export, requests
from hub.privacy.export import Export
from hub.privacy.requests import Erasure
from schema.models.privacy import ErasureOut, ExportDownload, ExportOut, ExportRequest


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


@endpoint(
    "POST",
    "/users/me/export",
    summary="Export everything held about me (or my linked child) as a zip of JSON",
    body=ExportRequest,
    response=ExportOut,
    status=202,
    tag="privacy",
)
async def request_export(call: Call) -> Export:
    return await export.request_export(call.ctx, call.user, call.body.user_id, call.meta)


@endpoint(
    "GET",
    "/exports/{export_id}",
    summary="Download a data export with the link's token (the one who asked, until it expires)",
    query=ExportDownload,
    tag="privacy",
    raw={200: "application/zip"},
)
async def download_export(call: Call) -> StreamingResponse:
    found = await export.open_download(
        call.ctx, call.user, call.path_uuid("export_id"), call.query.token
    )
    return StreamingResponse(
        call.ctx.storage.read(found.key),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{found.filename}"',
            "Content-Length": str(found.size),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


ENDPOINTS = [request_erasure, erasure, request_export, download_export]
