"""Conversations and their participants."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from hub.accounts import audit
from hub.accounts.roles import load_roles
from hub.chat import partitions, policy
from hub.chat.rows import MESSAGE_COLUMNS, message_event
from hub.context import Actor, HubContext
from hub.db import Connection
from hub.errors import DomainError, ErrorCode, forbidden, not_found
from schema.models.chat import CreateConversation

_CONVERSATION_COLUMNS = """c.id, c.kind::text, c.org_id, c.zone_id, c.title, c.last_seq,
    c.change_seq, c.last_message_at, p.role::text AS my_role, p.last_read_seq,
    greatest(c.last_seq - p.last_read_seq, 0) AS unread_count"""


async def create_conversation(
    ctx: HubContext, actor: Actor, body: CreateConversation
) -> dict[str, Any]:
    """Open a direct conversation (or return the existing one), a group or an announcement."""
    if body.kind == "direct":
        return await _open_direct(ctx, actor, body.member_ids[0])
    assert body.org_id is not None  # noqa: S101 - the model guarantees it
    conversation_id = uuid.uuid4()
    async with ctx.db.acting(actor.user_id) as conn:
        roles = await load_roles(conn, actor.user_id)
        org = await conn.fetchrow("SELECT zone_id FROM organizations WHERE id = $1", body.org_id)
        if org is None:
            raise not_found("Organization")
        if not policy.may_create_group(roles, body.org_id):
            raise forbidden("Only teachers and administrators open group conversations")
        members = await _org_members(
            conn, body.org_id, set(body.member_ids) - {actor.user_id}, "member_ids"
        )
        await conn.execute(
            """INSERT INTO conversations (id, zone_id, org_id, kind, title, created_by)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            conversation_id,
            org["zone_id"],
            body.org_id,
            body.kind,
            body.title,
            actor.user_id,
        )
        await conn.executemany(
            """INSERT INTO participants (conversation_id, user_id, zone_id, org_id, role)
               VALUES ($1, $2, $3, $4, $5)""",
            [(conversation_id, actor.user_id, org["zone_id"], body.org_id, "admin")]
            + [(conversation_id, m, org["zone_id"], body.org_id, "member") for m in members],
        )
        await audit.record(
            conn,
            "conversation.create",
            actor_id=actor.user_id,
            target_type="conversation",
            target_id=conversation_id,
            zone_id=org["zone_id"],
            org_id=body.org_id,
            details={"kind": body.kind, "members": len(members) + 1},
        )
        result = await _conversation_row(conn, actor.user_id, conversation_id)
    for member in [actor.user_id, *members]:
        await ctx.bus.join(member, conversation_id)
    return result


async def _org_members(
    conn: Connection, org_id: UUID, user_ids: set[UUID], field: str
) -> list[UUID]:
    if not user_ids:
        return []
    rows = await conn.fetch(
        "SELECT DISTINCT user_id FROM memberships WHERE org_id = $1 AND user_id = ANY($2::uuid[])",
        org_id,
        list(user_ids),
    )
    found = {r["user_id"] for r in rows}
    if missing := user_ids - found:
        raise DomainError(
            ErrorCode.VALIDATION,
            f"{len(missing)} user(s) are not members of this organization",
            field=field,
            user_ids=sorted(str(m) for m in missing),
        )
    return sorted(found)


async def _open_direct(ctx: HubContext, actor: Actor, other_id: UUID) -> dict[str, Any]:
    async with ctx.db.acting(actor.user_id) as conn:
        mine = await load_roles(conn, actor.user_id)
    # The other person's roles decide the rule, even where the caller cannot see all of them.
    async with ctx.db.system() as conn:
        theirs = await load_roles(conn, other_id)
        org_id = policy.direct_conversation_org(mine, theirs)
        if org_id is None:
            raise forbidden("You may not open a conversation with this person")
        key = ":".join(sorted((str(actor.user_id), str(other_id))))
        existing = await conn.fetchval("SELECT id FROM conversations WHERE direct_key = $1", key)
        created = existing is None
        if created:
            zone_id = await conn.fetchval("SELECT zone_id FROM organizations WHERE id = $1", org_id)
            conversation_id = uuid.uuid4()
            inserted = await conn.fetchval(
                """INSERT INTO conversations (id, zone_id, org_id, kind, direct_key, created_by)
                   VALUES ($1, $2, $3, 'direct', $4, $5)
                   ON CONFLICT (direct_key) DO NOTHING RETURNING id""",
                conversation_id,
                zone_id,
                org_id,
                key,
                actor.user_id,
            )
            if inserted is None:  # a concurrent open won the race
                existing = await conn.fetchval(
                    "SELECT id FROM conversations WHERE direct_key = $1", key
                )
                created = False
            else:
                await conn.executemany(
                    """INSERT INTO participants (conversation_id, user_id, zone_id, org_id, role)
                       VALUES ($1, $2, $3, $4, 'member')""",
                    [(conversation_id, u, zone_id, org_id) for u in (actor.user_id, other_id)],
                )
        returned: list[int] = []
        if not created:
            conversation_id = existing
            # Re-opening after leaving brings the caller back, as a membership change.
            conv = await conn.fetchrow(
                """UPDATE participants SET left_at = NULL, joined_at = now()
                   WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NOT NULL
                   RETURNING zone_id, org_id""",
                conversation_id,
                actor.user_id,
            )
            if conv is not None:
                returned = await _record_membership(
                    conn, conversation_id, conv, "member_added", [actor.user_id], actor.user_id
                )
    async with ctx.db.acting(actor.user_id) as conn:
        result = await _conversation_row(conn, actor.user_id, conversation_id)
    if created:
        for member in (actor.user_id, other_id):
            await ctx.bus.join(member, conversation_id)
    elif returned:
        await ctx.bus.join(actor.user_id, conversation_id)
        await ctx.bus.to_conversation(
            conversation_id,
            "conversation.member_added",
            {
                "conversation_id": str(conversation_id),
                "user_id": str(actor.user_id),
                "change_seq": returned[0],
                "role": "member",
            },
        )
    return result


async def _conversation_row(
    conn: Connection, user_id: UUID, conversation_id: UUID
) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"""SELECT {_CONVERSATION_COLUMNS} FROM conversations c
            JOIN participants p ON p.conversation_id = c.id AND p.user_id = $1
            WHERE c.id = $2 AND p.left_at IS NULL""",  # noqa: S608
        user_id,
        conversation_id,
    )
    if row is None:
        raise not_found("Conversation")
    return dict(row)


# The ELSE branch (a sub-plan over every month) runs only for a conversation whose last
# message is older than the hot months.
_MINE = f"""SELECT {_CONVERSATION_COLUMNS},
           CASE WHEN hot.id IS NOT NULL OR c.last_seq = 0 THEN to_jsonb(hot)
                ELSE (SELECT to_jsonb(old) FROM (
                          SELECT {MESSAGE_COLUMNS} FROM messages
                          WHERE conversation_id = c.id AND seq = c.last_seq) old)
           END AS last_message
    FROM participants p
    JOIN conversations c ON c.id = p.conversation_id
    LEFT JOIN LATERAL (
        SELECT {MESSAGE_COLUMNS} FROM messages
        WHERE conversation_id = c.id AND seq = c.last_seq AND created_at >= $2
    ) hot ON true
    WHERE p.user_id = $1 AND p.left_at IS NULL
    ORDER BY coalesce(c.last_message_at, c.created_at) DESC
    LIMIT 500"""  # noqa: S608 - constant columns


async def list_conversations(ctx: HubContext, actor: Actor) -> list[dict[str, Any]]:
    """Mine, by last activity, each with its last message and unread count: one query.

    The last message is looked for in the hot months first (hub/chat/partitions.py); only a
    conversation quiet since before them has its last message read from older months."""
    async with ctx.db.acting(actor.user_id) as conn:
        rows = await conn.fetch(
            _MINE,
            actor.user_id,
            partitions.hot_since(ctx.clock(), ctx.settings),
        )
    return [dict(r) | {"last_message": _public(r["last_message"])} for r in rows]


def _public(message: dict[str, Any] | None) -> dict[str, Any] | None:
    if message is None:
        return None
    return message_event(message)


async def get_conversation(ctx: HubContext, actor: Actor, conversation_id: UUID) -> dict[str, Any]:
    async with ctx.db.acting(actor.user_id) as conn:
        result = await _conversation_row(conn, actor.user_id, conversation_id)
        participants = await conn.fetch(
            """SELECT p.user_id, p.role::text, u.display_name, p.last_read_seq
               FROM participants p JOIN users u ON u.id = p.user_id
               WHERE p.conversation_id = $1 AND p.left_at IS NULL
               ORDER BY p.role, u.display_name LIMIT 5000""",
            conversation_id,
        )
    return result | {"participants": [dict(p) for p in participants]}


async def my_role(conn: Connection, user_id: UUID, conversation_id: UUID) -> tuple[str, str]:
    """(conversation kind, the user's role in it); not_found if not a current participant."""
    row = await conn.fetchrow(
        """SELECT c.kind::text, p.role::text FROM conversations c
           JOIN participants p ON p.conversation_id = c.id AND p.user_id = $1
           WHERE c.id = $2 AND p.left_at IS NULL""",
        user_id,
        conversation_id,
    )
    if row is None:
        raise not_found("Conversation")
    return row["kind"], row["role"]


async def add_participants(
    ctx: HubContext, actor: Actor, conversation_id: UUID, user_ids: list[UUID], role: str
) -> list[UUID]:
    """Conversation admins add members of the organization. Returns who was added."""
    async with ctx.db.acting(actor.user_id) as conn:
        kind, mine = await my_role(conn, actor.user_id, conversation_id)
        if not policy.may_manage_participants(kind, mine):
            raise forbidden("Only the conversation's admins add participants")
        conv = await conn.fetchrow(
            "SELECT zone_id, org_id FROM conversations WHERE id = $1", conversation_id
        )
        assert conv is not None  # noqa: S101 - my_role found it
        members = await _org_members(conn, conv["org_id"], set(user_ids), "user_ids")
        added = await conn.fetch(
            """INSERT INTO participants (conversation_id, user_id, zone_id, org_id, role)
               SELECT $1, u, $2, $3, $4 FROM unnest($5::uuid[]) AS u
               ON CONFLICT (conversation_id, user_id) DO UPDATE
                   SET left_at = NULL, role = EXCLUDED.role, joined_at = now()
                   WHERE participants.left_at IS NOT NULL
               RETURNING user_id""",
            conversation_id,
            conv["zone_id"],
            conv["org_id"],
            role,
            members,
        )
        added_ids = [r["user_id"] for r in added]
        changes = await _record_membership(
            conn, conversation_id, conv, "member_added", added_ids, actor.user_id
        )
    for user_id, change in zip(added_ids, changes, strict=True):
        await ctx.bus.join(user_id, conversation_id)
        await ctx.bus.to_conversation(
            conversation_id,
            "conversation.member_added",
            {
                "conversation_id": str(conversation_id),
                "user_id": str(user_id),
                "change_seq": change,
                "role": role,
            },
        )
    return added_ids


async def remove_participant(
    ctx: HubContext, actor: Actor, conversation_id: UUID, user_id: UUID
) -> None:
    """Admins remove others; anyone may remove themselves (that is leaving)."""
    async with ctx.db.acting(actor.user_id) as conn:
        kind, mine = await my_role(conn, actor.user_id, conversation_id)
        if user_id != actor.user_id and not policy.may_manage_participants(kind, mine):
            raise forbidden("Only the conversation's admins remove participants")
        # Locked: two admins leaving at once must not both think the other one stays.
        conv = await conn.fetchrow(
            "SELECT zone_id, org_id FROM conversations WHERE id = $1 FOR UPDATE", conversation_id
        )
        assert conv is not None  # noqa: S101
        present = await conn.fetchval(
            """SELECT role::text FROM participants
               WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NULL""",
            conversation_id,
            user_id,
        )
        if not present:
            raise not_found("Participant")
        successor = None
        if present == "admin" and kind != "direct":
            successor = await _successor(conn, conversation_id, user_id, kind)
        # Recorded first: once the caller has left, RLS no longer lets them touch the row.
        (change,) = await _record_membership(
            conn, conversation_id, conv, "member_removed", [user_id], actor.user_id
        )
        await conn.execute(
            "UPDATE participants SET left_at = now() WHERE conversation_id = $1 AND user_id = $2",
            conversation_id,
            user_id,
        )
    await ctx.bus.to_conversation(
        conversation_id,
        "conversation.member_removed",
        {"conversation_id": str(conversation_id), "user_id": str(user_id), "change_seq": change},
    )
    await ctx.bus.leave(user_id, conversation_id)
    if successor is not None:
        await ctx.bus.to_conversation(
            conversation_id,
            "conversation.admin_promoted",
            {"conversation_id": str(conversation_id), "user_id": str(successor)},
        )


async def _successor(
    conn: Connection, conversation_id: UUID, leaving: UUID, kind: str
) -> UUID | None:
    """When the last admin leaves a conversation others remain in, the longest-standing
    member becomes admin, so no group is left without one. Observers never are, and in an
    announcement channel only the school's staff may be."""
    others = await conn.fetchval(
        """SELECT count(*) FROM participants
           WHERE conversation_id = $1 AND user_id <> $2 AND left_at IS NULL AND role = 'admin'""",
        conversation_id,
        leaving,
    )
    if others:
        return None
    promoted: UUID | None = await conn.fetchval(
        """UPDATE participants SET role = 'admin'
           WHERE (conversation_id, user_id) = (
               SELECT p.conversation_id, p.user_id FROM participants p
               JOIN conversations c ON c.id = p.conversation_id
               WHERE p.conversation_id = $1 AND p.user_id <> $2 AND p.left_at IS NULL
                 AND p.role = 'member'
                 AND ($3 <> 'announcement' OR EXISTS (
                     SELECT 1 FROM memberships m WHERE m.user_id = p.user_id
                       AND m.org_id = c.org_id AND m.role IN ('teacher', 'org_admin')))
               ORDER BY p.joined_at, p.user_id LIMIT 1)
           RETURNING user_id""",
        conversation_id,
        leaving,
        kind,
    )
    return promoted


async def _record_membership(
    conn: Connection,
    conversation_id: UUID,
    conv: Any,
    kind: str,
    user_ids: list[UUID],
    actor_id: UUID,
) -> list[int]:
    """Give each membership change its place in the conversation's change order."""
    if not user_ids:
        return []
    top = await conn.fetchval(
        "UPDATE conversations SET change_seq = change_seq + $2 WHERE id = $1 RETURNING change_seq",
        conversation_id,
        len(user_ids),
    )
    changes = list(range(top - len(user_ids) + 1, top + 1))
    await conn.executemany(
        """INSERT INTO conversation_events
               (conversation_id, change_seq, zone_id, org_id, kind, user_id, actor_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        [
            (conversation_id, c, conv["zone_id"], conv["org_id"], kind, u, actor_id)
            for c, u in zip(changes, user_ids, strict=True)
        ],
    )
    return changes
