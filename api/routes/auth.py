"""/auth: register, login, refresh, logout."""

from __future__ import annotations

from api.endpoint import Call, endpoint
from hub.accounts import erasure, sessions
from schema.models.accounts import (
    ErasureByCredentials,
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    RegistrationAccepted,
    TokenPair,
)


@endpoint(
    "POST",
    "/auth/register",
    summary="Create an account (the same answer whether or not the e-mail had one)",
    body=RegisterRequest,
    response=RegistrationAccepted,
    status=202,
    auth=False,
    tag="auth",
)
async def register(call: Call) -> RegistrationAccepted:
    # An e-mail that already has an account is told so by e-mail, not in this answer.
    await sessions.register(call.ctx, call.body, call.meta)
    return RegistrationAccepted(
        status="accepted",
        message=(
            "If this e-mail is new here, the account is ready to sign in with; if it already "
            "has an account, we wrote to it"
        ),
    )


@endpoint(
    "POST",
    "/auth/login",
    summary="Sign in and receive a token pair",
    body=LoginRequest,
    response=TokenPair,
    auth=False,
    tag="auth",
    # Throttled by failures instead (hub/accounts/throttle.py): a per-IP request limit would
    # let one guesser behind a school's shared address block everyone's right password.
    rate_limited=False,
)
async def login(call: Call) -> TokenPair:
    return await sessions.login(call.ctx, call.body, call.meta)


@endpoint(
    "POST",
    "/auth/refresh",
    summary="Rotate a refresh token for a new pair",
    body=RefreshRequest,
    response=TokenPair,
    auth=False,
    tag="auth",
)
async def refresh(call: Call) -> TokenPair:
    return await sessions.refresh(call.ctx, call.body.refresh_token, call.meta)


@endpoint("POST", "/auth/logout", summary="Sign out this session everywhere", tag="auth")
async def logout(call: Call) -> None:
    await sessions.logout(call.ctx, call.user, call.meta)


@endpoint(
    "POST",
    "/auth/erasure",
    summary="Erase my account with my e-mail and password (when I cannot sign in)",
    body=ErasureByCredentials,
    auth=False,
    tag="auth",
    rate_limited=False,  # throttled by failures, as login is
)
async def erase_signed_out(call: Call) -> None:
    await erasure.erase_by_credentials(call.ctx, call.body, call.meta)


ENDPOINTS = [register, login, refresh, logout, erase_signed_out]
