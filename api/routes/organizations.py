"""/zones and /organizations: tenants, members, classes."""

from __future__ import annotations

from typing import Any

from api.endpoint import Call, endpoint
from hub.accounts import organizations as orgs
from schema.models.accounts import (
    ClassCreate,
    ClassList,
    ClassOut,
    MemberAdd,
    MemberList,
    MemberOut,
    OrganizationCreate,
    OrganizationOut,
    OrganizationSettings,
    OrganizationSettingsOut,
    ZoneList,
)


@endpoint("GET", "/zones", summary="All zones", response=ZoneList, tag="organizations")
async def zones(call: Call) -> dict[str, Any]:
    return {"items": await orgs.list_zones(call.ctx)}


@endpoint(
    "POST",
    "/organizations",
    summary="Create an organization (zone/system admins)",
    body=OrganizationCreate,
    response=OrganizationOut,
    status=201,
    tag="organizations",
)
async def create(call: Call) -> dict[str, Any]:
    return await orgs.create_organization(call.ctx, call.user, call.body, call.meta)


@endpoint(
    "GET",
    "/organizations/{org_id}",
    summary="One organization",
    response=OrganizationOut,
    tag="organizations",
)
async def detail(call: Call) -> dict[str, Any]:
    return await orgs.get_organization(call.ctx, call.user, call.path_uuid("org_id"))


@endpoint(
    "POST",
    "/organizations/{org_id}/members",
    summary="Give a user a role here",
    body=MemberAdd,
    response=MemberOut,
    status=201,
    tag="organizations",
)
async def add_member(call: Call) -> dict[str, Any]:
    return await orgs.add_member(
        call.ctx, call.user, call.path_uuid("org_id"), call.body, call.meta
    )


@endpoint(
    "GET",
    "/organizations/{org_id}/members",
    summary="Members and their roles",
    response=MemberList,
    tag="organizations",
)
async def members(call: Call) -> dict[str, Any]:
    return {"items": await orgs.list_members(call.ctx, call.user, call.path_uuid("org_id"))}


@endpoint(
    "POST",
    "/organizations/{org_id}/classes",
    summary="Create a class",
    body=ClassCreate,
    response=ClassOut,
    status=201,
    tag="organizations",
)
async def create_class(call: Call) -> dict[str, Any]:
    return await orgs.create_class(
        call.ctx, call.user, call.path_uuid("org_id"), call.body, call.meta
    )


@endpoint(
    "GET",
    "/organizations/{org_id}/classes",
    summary="Classes of an organization",
    response=ClassList,
    tag="organizations",
)
async def classes(call: Call) -> dict[str, Any]:
    return {"items": await orgs.list_classes(call.ctx, call.user, call.path_uuid("org_id"))}


@endpoint(
    "GET",
    "/organizations/{org_id}/settings",
    summary="The organization's settings",
    response=OrganizationSettingsOut,
    tag="organizations",
)
async def settings(call: Call) -> dict[str, Any]:
    return await orgs.get_settings(call.ctx, call.user, call.path_uuid("org_id"))


@endpoint(
    "PUT",
    "/organizations/{org_id}/settings",
    summary="Change the organization's settings",
    body=OrganizationSettings,
    response=OrganizationSettingsOut,
    tag="organizations",
)
async def update_settings(call: Call) -> dict[str, Any]:
    return await orgs.update_settings(
        call.ctx, call.user, call.path_uuid("org_id"), call.body, call.meta
    )


ENDPOINTS = [
    zones,
    create,
    detail,
    add_member,
    members,
    create_class,
    classes,
    settings,
    update_settings,
]
