"""Leaving the platform: the right to be forgotten (GDPR / PIPA).

The person confirms with their password; the erasure (hub/privacy/erase.py) then applies every
rule of the personal-data registry at once: the account is closed and scrubbed, sessions
revoked and sockets closed, messages blanked (their places in each conversation's order stay,
so nobody else's history gets a gap), and a proof is written.

Signed in, the person erases with their session (`erase_account`); someone who cannot sign in
any more (a required consent withdrawn: hub/privacy/consent.py) erases with their e-mail and
password (`erase_by_credentials`), throttled as sign-in is.
"""

from __future__ import annotations

from uuid import UUID

from hub.accounts import throttle
from hub.context import Actor, HubContext, RequestMeta
from hub.errors import DomainError, ErrorCode
from hub.passwords import verify_password
from hub.privacy import erase
from hub.privacy.requests import Requester, open_erasure
from schema.models.accounts import ErasureByCredentials


async def erase_account(ctx: HubContext, actor: Actor, password: str, meta: RequestMeta) -> None:
    async with ctx.db.acting(actor.user_id) as conn:
        current = await conn.fetchval(
            "SELECT password_hash FROM users WHERE id = $1", actor.user_id
        )
    if not await verify_password(current, password):
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, "The password is wrong", field="password")
    await _erase_self(ctx, actor.user_id)


async def erase_by_credentials(
    ctx: HubContext, body: ErasureByCredentials, meta: RequestMeta
) -> None:
    await throttle.check(ctx, body.email, meta.ip)
    async with ctx.db.system() as conn:
        row = await conn.fetchrow(
            "SELECT id, password_hash FROM users WHERE email = $1 AND deleted_at IS NULL",
            body.email.lower(),
        )
    ok = await verify_password(row["password_hash"] if row else None, body.password)
    if row is None or not ok:
        await throttle.failed(ctx, body.email, meta.ip)
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, "The e-mail or password is wrong")
    await throttle.succeeded(ctx, body.email, meta.ip)
    await _erase_self(ctx, row["id"])


async def _erase_self(ctx: HubContext, user_id: UUID) -> None:
    async with ctx.db.system() as conn:
        erasure = await open_erasure(conn, ctx, user_id, user_id, Requester.SELF)
    await erase.run(ctx, erasure.id)
