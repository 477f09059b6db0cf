"""Leaving the platform: the right to be forgotten (GDPR / PIPA).

The account is closed and scrubbed of personal data, every session is revoked and every live
socket closed, memberships end, and the person's messages are erased (their places in each
conversation's order stay, so nobody else's history gets a gap). An audit record proves it.
"""

from __future__ import annotations

from hub.accounts import audit
from hub.accounts.sessions import mark_session_revoked
from hub.context import Actor, HubContext, RequestMeta
from hub.errors import DomainError, ErrorCode
from hub.files import releasing
from hub.passwords import verify_password


async def erase_account(ctx: HubContext, actor: Actor, password: str, meta: RequestMeta) -> None:
    async with ctx.db.acting(actor.user_id) as conn:
        current = await conn.fetchval(
            "SELECT password_hash FROM users WHERE id = $1", actor.user_id
        )
    if not await verify_password(current, password):
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, "The password is wrong", field="password")
    # Erasure touches rows in every conversation and organization the person was part of:
    # the rule that allows it is this one, so it runs as the system.
    async with ctx.db.system() as conn:
        erased = await conn.fetch(
            """UPDATE messages SET content = '', deleted_at = coalesce(deleted_at, now()),
                      search_tokens = NULL,
                      change_seq = (SELECT change_seq + 1 FROM conversations c
                                    WHERE c.id = messages.conversation_id)
               WHERE sender_id = $1 RETURNING conversation_id""",
            actor.user_id,
        )
        # One change per message would need one counter bump each; bump once per conversation
        # past the highest change we just handed out.
        await conn.execute(
            """UPDATE conversations c SET change_seq = m.top
               FROM (SELECT conversation_id, max(change_seq) AS top FROM messages
                     WHERE sender_id = $1 GROUP BY conversation_id) m
               WHERE c.id = m.conversation_id AND c.change_seq < m.top""",
            actor.user_id,
        )
        await conn.execute(
            "UPDATE participants SET left_at = now() WHERE user_id = $1 AND left_at IS NULL",
            actor.user_id,
        )
        file_keys = await releasing.retire_user_files(conn, actor.user_id)
        await conn.execute("DELETE FROM memberships WHERE user_id = $1", actor.user_id)
        await conn.execute("DELETE FROM zone_admins WHERE user_id = $1", actor.user_id)
        sessions = await conn.fetch(
            """UPDATE sessions SET revoked_at = now(), revoked_reason = 'account_erased'
               WHERE user_id = $1 AND revoked_at IS NULL RETURNING id""",
            actor.user_id,
        )
        await conn.execute("DELETE FROM refresh_tokens WHERE user_id = $1", actor.user_id)
        await conn.execute(
            """UPDATE users SET email = 'erased-' || id || '@invalid',
                      display_name = '(탈퇴한 사용자)', password_hash = '!',
                      deleted_at = now(), updated_at = now()
               WHERE id = $1""",
            actor.user_id,
        )
        await audit.record(
            conn,
            "user.erase",
            actor_id=actor.user_id,
            target_type="user",
            target_id=actor.user_id,
            meta=meta,
            details={
                "messages_erased": len(erased),
                "sessions_revoked": len(sessions),
                "files_erased": len(file_keys),
            },
        )
    # The bytes go after the commit (the records no longer point at them).
    await releasing.release_keys(ctx, file_keys)
    for session in sessions:
        await mark_session_revoked(ctx, actor.user_id, session["id"], "account_erased")
    await ctx.bus.disconnect_user(actor.user_id, "account_erased")
