"""/users/me: the caller's own profile."""

from __future__ import annotations

from typing import Any

from api.endpoint import Call, endpoint
from hub.accounts import erasure, users
from schema.models.accounts import EraseAccountRequest, UpdateMeRequest, UserOut


@endpoint("GET", "/users/me", summary="My profile and memberships", response=UserOut, tag="users")
async def me(call: Call) -> dict[str, Any]:
    return await users.get_me(call.ctx, call.user)


@endpoint(
    "PUT",
    "/users/me",
    summary="Update my profile or password",
    body=UpdateMeRequest,
    response=UserOut,
    tag="users",
)
async def update_me(call: Call) -> dict[str, Any]:
    return await users.update_me(call.ctx, call.user, call.body, call.meta)


@endpoint(
    "DELETE",
    "/users/me",
    summary="Leave the platform: erase my account and messages",
    body=EraseAccountRequest,
    tag="users",
)
async def erase_me(call: Call) -> None:
    await erasure.erase_account(call.ctx, call.user, call.body.password, call.meta)


ENDPOINTS = [me, update_me, erase_me]
