"""Leaving the platform: the right to be forgotten (GDPR / PIPA).

The person confirms with their password; the erasure (hub/privacy/erase.py) then applies every
rule of the personal-data registry at once: the account is closed and scrubbed, sessions
revoked and sockets closed, messages blanked (their places in each conversation's order stay,
so nobody else's history gets a gap), and a proof is written.
"""

from __future__ import annotations

from hub.context import Actor, HubContext, RequestMeta
from hub.errors import DomainError, ErrorCode
from hub.passwords import verify_password
from hub.privacy import erase
from hub.privacy.requests import Requester, open_erasure


async def erase_account(ctx: HubContext, actor: Actor, password: str, meta: RequestMeta) -> None:
    async with ctx.db.acting(actor.user_id) as conn:
        current = await conn.fetchval(
            "SELECT password_hash FROM users WHERE id = $1", actor.user_id
        )
    if not await verify_password(current, password):
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, "The password is wrong", field="password")
    async with ctx.db.system() as conn:
        erasure = await open_erasure(conn, ctx, actor.user_id, actor.user_id, Requester.SELF)
    await erase.run(ctx, erasure.id)
