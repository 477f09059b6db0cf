"""Read watermarks, who has read an announcement, and acknowledgements (permission slips)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hub.chat.conversations import my_role
from hub.context import Actor, HubContext
from hub.errors import DomainError, ErrorCode, forbidden, not_found
from hub.exams.policy import signals_allowed
from schema.models.chat import ReadReceipt


async def mark_read(ctx: HubContext, actor: Actor, body: ReadReceipt) -> dict[str, Any]:
    """Move the reader's watermark forward (never back); tell the others in small rooms."""
    async with ctx.db.acting(actor.user_id) as conn:
        if body.message_id is not None:
            target = await conn.fetchrow(
                "SELECT conversation_id, seq FROM messages WHERE id = $1", body.message_id
            )
            if target is None:
                raise not_found("Message")
            conversation_id, seq = target["conversation_id"], target["seq"]
        else:
            assert body.conversation_id is not None and body.seq is not None  # noqa: S101
            conversation_id, seq = body.conversation_id, body.seq
        kind, _ = await my_role(conn, actor.user_id, conversation_id)
        row = await conn.fetchrow(
            """SELECT c.last_seq, p.last_read_seq FROM conversations c
               JOIN participants p ON p.conversation_id = c.id AND p.user_id = $2
               WHERE c.id = $1 FOR UPDATE OF p""",
            conversation_id,
            actor.user_id,
        )
        assert row is not None  # noqa: S101 - my_role found the participant
        if seq > row["last_seq"]:
            raise DomainError(
                ErrorCode.VALIDATION,
                f"seq {seq} is beyond the conversation's last seq {row['last_seq']}",
                field="seq",
            )
        if seq < row["last_read_seq"]:
            raise DomainError(
                ErrorCode.CONFLICT,
                "A read watermark only moves forward",
                field="seq",
                last_read_seq=row["last_read_seq"],
            )
        moved = seq > row["last_read_seq"]
        if moved:
            await conn.execute(
                """UPDATE participants SET last_read_seq = $3
                   WHERE conversation_id = $1 AND user_id = $2""",
                conversation_id,
                actor.user_id,
                seq,
            )
        # Read receipts follow the exam rule of messages: none between classmates mid-exam.
        told = (
            moved
            and kind != "announcement"
            and await signals_allowed(conn, actor, conversation_id, ctx)
        )
    event = {"conversation_id": str(conversation_id), "user_id": str(actor.user_id), "seq": seq}
    # Announcements do not tell hundreds of members about every reader: admins ask instead.
    if told:
        await ctx.bus.to_conversation(conversation_id, "message.read", event)
    elif moved:
        await ctx.bus.to_user(actor.user_id, "message.read", event)  # the reader's devices
    return event | {"unread_count": row["last_seq"] - seq}


async def read_status(ctx: HubContext, actor: Actor, message_id: UUID) -> dict[str, Any]:
    """For a conversation admin: who has read a message, who has not, who acknowledged it."""
    async with ctx.db.acting(actor.user_id) as conn:
        msg = await conn.fetchrow(
            "SELECT conversation_id, seq, sender_id, ack_required FROM messages WHERE id = $1",
            message_id,
        )
        if msg is None:
            raise not_found("Message")
        _, role = await my_role(conn, actor.user_id, msg["conversation_id"])
        if role != "admin":
            raise forbidden("Only the conversation's admins see who has read a message")
        rows = await conn.fetch(
            """SELECT p.user_id, p.last_read_seq >= $2 AS has_read,
                      (a.user_id IS NOT NULL) AS acked
               FROM participants p
               LEFT JOIN message_acks a ON a.message_id = $3 AND a.user_id = p.user_id
               WHERE p.conversation_id = $1 AND p.left_at IS NULL AND p.user_id <> $4
               ORDER BY p.user_id""",
            msg["conversation_id"],
            msg["seq"],
            message_id,
            msg["sender_id"],
        )
    return {
        "message_id": message_id,
        "seq": msg["seq"],
        "read": [r["user_id"] for r in rows if r["has_read"]],
        "unread": [r["user_id"] for r in rows if not r["has_read"]],
        "acknowledged": [r["user_id"] for r in rows if r["acked"]] if msg["ack_required"] else None,
    }


async def acknowledge(ctx: HubContext, actor: Actor, message_id: UUID) -> dict[str, Any]:
    """A member acknowledges an announcement that asks for it (and so has read it)."""
    async with ctx.db.acting(actor.user_id) as conn:
        msg = await conn.fetchrow(
            """SELECT conversation_id, seq, sender_id, ack_required, zone_id, org_id
               FROM messages WHERE id = $1 AND deleted_at IS NULL""",
            message_id,
        )
        if msg is None:
            raise not_found("Message")
        await my_role(conn, actor.user_id, msg["conversation_id"])
        if not msg["ack_required"]:
            raise DomainError(ErrorCode.CONFLICT, "This message does not ask for acknowledgement")
        inserted = await conn.fetchval(
            """INSERT INTO message_acks (message_id, user_id, zone_id, org_id)
               VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING acked_at""",
            message_id,
            actor.user_id,
            msg["zone_id"],
            msg["org_id"],
        )
        await conn.execute(
            """UPDATE participants SET last_read_seq = $3
               WHERE conversation_id = $1 AND user_id = $2 AND last_read_seq < $3""",
            msg["conversation_id"],
            actor.user_id,
            msg["seq"],
        )
    event = {
        "message_id": str(message_id),
        "conversation_id": str(msg["conversation_id"]),
        "user_id": str(actor.user_id),
    }
    if inserted is not None and msg["sender_id"] is not None:
        await ctx.bus.to_user(msg["sender_id"], "message.acknowledged", event)
    return event | {"new": inserted is not None}
