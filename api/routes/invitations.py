"""Invitations (codes and links to join a school or class) and class roster imports."""

from __future__ import annotations

from typing import Any

from api.endpoint import Call, endpoint
from hub.accounts import invitations, roster
from schema.models.invitations import (
    InvitationCreate,
    InvitationList,
    InvitationOut,
    InvitationRedeem,
    Joined,
    RosterImport,
    RosterResult,
)


@endpoint(
    "POST",
    "/organizations/{org_id}/invitations",
    summary="Make an invitation code and link (admins): a role, optionally a class",
    body=InvitationCreate,
    response=InvitationOut,
    status=201,
    tag="organizations",
)
async def create(call: Call) -> dict[str, Any]:
    return await invitations.create_invitation(
        call.ctx, call.user, call.path_uuid("org_id"), call.body, call.meta
    )


@endpoint(
    "GET",
    "/organizations/{org_id}/invitations",
    summary="The organization's invitations (admins)",
    response=InvitationList,
    tag="organizations",
)
async def listing(call: Call) -> dict[str, Any]:
    org_id = call.path_uuid("org_id")
    return {"items": await invitations.list_invitations(call.ctx, call.user, org_id)}


@endpoint(
    "DELETE",
    "/invitations/{invitation_id}",
    summary="Revoke an invitation (admins)",
    tag="organizations",
)
async def revoke(call: Call) -> None:
    await invitations.revoke_invitation(
        call.ctx, call.user, call.path_uuid("invitation_id"), call.meta
    )


@endpoint(
    "POST",
    "/invitations/redeem",
    summary="Join the school (and class) an invitation code is for",
    body=InvitationRedeem,
    response=Joined,
    tag="organizations",
)
async def redeem(call: Call) -> dict[str, Any]:
    return await invitations.redeem(call.ctx, call.user, call.body.code, call.meta)


@endpoint(
    "POST",
    "/classes/{class_id}/roster",
    summary="Import a class roster from CSV: students and parents, links pre-approved (admins)",
    body=RosterImport,
    response=RosterResult,
    status=201,
    tag="organizations",
)
async def import_roster(call: Call) -> dict[str, Any]:
    return await roster.import_roster(
        call.ctx, call.user, call.path_uuid("class_id"), call.body.csv, call.meta
    )


ENDPOINTS = [create, listing, revoke, redeem, import_roster]
