"""Per-conversation notification settings and per-user preferences."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hub.context import Actor, HubContext
from hub.errors import not_found
from schema.models.notify import ConversationNotificationSettings, NotificationPreferences

_DEFAULTS: dict[str, Any] = {
    "quiet_start": None,
    "quiet_end": None,
    "digest_delay_s": 3600,
    "email_digest": True,
}


async def get_conversation_settings(
    ctx: HubContext, actor: Actor, conversation_id: UUID
) -> dict[str, Any]:
    async with ctx.db.acting(actor.user_id) as conn:
        row = await conn.fetchrow(
            """SELECT muted, push_enabled AS push, email_enabled AS email FROM participants
               WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NULL""",
            conversation_id,
            actor.user_id,
        )
    if row is None:
        raise not_found("Conversation")
    return dict(row)


async def put_conversation_settings(
    ctx: HubContext, actor: Actor, conversation_id: UUID, body: ConversationNotificationSettings
) -> dict[str, Any]:
    async with ctx.db.acting(actor.user_id) as conn:
        row = await conn.fetchrow(
            """UPDATE participants SET muted = $3, push_enabled = $4, email_enabled = $5
               WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NULL
               RETURNING muted, push_enabled AS push, email_enabled AS email""",
            conversation_id,
            actor.user_id,
            body.muted,
            body.push,
            body.email,
        )
    if row is None:
        raise not_found("Conversation")
    return dict(row)


async def get_preferences(ctx: HubContext, actor: Actor) -> dict[str, Any]:
    async with ctx.db.acting(actor.user_id) as conn:
        row = await conn.fetchrow(
            """SELECT u.language, u.timezone, p.quiet_start, p.quiet_end, p.digest_delay_s,
                      p.email_digest
               FROM users u LEFT JOIN notification_preferences p ON p.user_id = u.id
               WHERE u.id = $1""",
            actor.user_id,
        )
    if row is None:
        raise not_found("User")
    return {
        k: (v if v is not None or k.startswith("quiet") else _DEFAULTS[k])
        for k, v in dict(row).items()
    }


async def put_preferences(
    ctx: HubContext, actor: Actor, body: NotificationPreferences
) -> dict[str, Any]:
    async with ctx.db.acting(actor.user_id) as conn:
        await conn.execute(
            """INSERT INTO notification_preferences
                   (user_id, quiet_start, quiet_end, digest_delay_s, email_digest)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (user_id) DO UPDATE SET quiet_start = $2, quiet_end = $3,
                   digest_delay_s = $4, email_digest = $5, updated_at = now()""",
            actor.user_id,
            body.quiet_start,
            body.quiet_end,
            body.digest_delay_s,
            body.email_digest,
        )
        changes = body.model_dump(exclude_none=True, include={"language", "timezone"})
        if changes:
            await conn.execute(
                "UPDATE users SET language = coalesce($2, language), "
                "timezone = coalesce($3, timezone), updated_at = now() WHERE id = $1",
                actor.user_id,
                changes.get("language"),
                changes.get("timezone"),
            )
    return await get_preferences(ctx, actor)
