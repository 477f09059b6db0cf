"""/zones/{zone_id}/admins: system administrators grant and revoke zone administrators."""

from __future__ import annotations

from typing import Any

from api.endpoint import Call, endpoint
from hub.accounts import admins
from schema.models.admin import ZoneAdminList, ZoneAdminOut


@endpoint(
    "PUT",
    "/zones/{zone_id}/admins/{user_id}",
    summary="Make a user an administrator of the zone (system admins)",
    response=ZoneAdminOut,
    tag="admin",
)
async def grant(call: Call) -> dict[str, Any]:
    return await admins.grant_zone_admin(
        call.ctx, call.user, call.path_uuid("zone_id"), call.path_uuid("user_id"), call.meta
    )


@endpoint(
    "DELETE",
    "/zones/{zone_id}/admins/{user_id}",
    summary="Revoke a zone administrator (system admins)",
    tag="admin",
)
async def revoke(call: Call) -> None:
    await admins.revoke_zone_admin(
        call.ctx, call.user, call.path_uuid("zone_id"), call.path_uuid("user_id"), call.meta
    )


@endpoint(
    "GET",
    "/zones/{zone_id}/admins",
    summary="Administrators of the zone (system admins)",
    response=ZoneAdminList,
    tag="admin",
)
async def listing(call: Call) -> dict[str, Any]:
    return {"items": await admins.list_zone_admins(call.ctx, call.user, call.path_uuid("zone_id"))}


ENDPOINTS = [grant, revoke, listing]
