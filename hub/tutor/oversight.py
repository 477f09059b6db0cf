"""What staff and parents see of the tutor: usage per class, refused questions, the tutor
conversations they may read (read-only), and the organization's tutor settings."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hub.accounts import audit
from hub.chat.rows import MESSAGE_COLUMNS, message_event
from hub.context import Actor, HubContext
from hub.errors import forbidden, not_found
from schema.models.tutor import TutorSettings

_IS_ORG_ADMIN = """SELECT EXISTS (SELECT 1 FROM memberships WHERE user_id = $1 AND org_id = $2
                   AND role = 'org_admin') OR (SELECT is_sys_admin FROM users WHERE id = $1)"""


_MAY_SEE_CLASS = """SELECT EXISTS (SELECT 1 FROM class_members WHERE class_id = $1
                     AND user_id = $2 AND role = 'teacher')
    OR EXISTS (SELECT 1 FROM memberships WHERE user_id = $2 AND org_id = $3
               AND role = 'org_admin') OR (SELECT is_sys_admin FROM users WHERE id = $2)"""


async def usage_by_class(
    ctx: HubContext, actor: Actor, class_id: UUID, days: int
) -> list[dict[str, Any]]:
    """Questions per student per day, for a teacher of the class or an admin of its school."""
    async with ctx.db.acting(actor.user_id) as conn:
        cls = await conn.fetchrow("SELECT org_id FROM classes WHERE id = $1", class_id)
        if cls is None:
            raise not_found("Class")
        allowed = await conn.fetchval(
            _MAY_SEE_CLASS,
            class_id,
            actor.user_id,
            cls["org_id"],
        )
        if not allowed:
            raise forbidden("Only the class's teachers and the school's admins see its usage")
        rows = await conn.fetch(
            """SELECT r.user_id AS student_id, u.display_name,
                      (r.created_at AT TIME ZONE 'Asia/Seoul')::date AS day,
                      count(*) FILTER (WHERE r.outcome <> 'refused') AS questions,
                      count(*) FILTER (WHERE r.outcome = 'refused') AS refused
               FROM tutor_requests r
               JOIN class_members cm ON cm.user_id = r.user_id AND cm.class_id = $1
                                    AND cm.role = 'student'
               JOIN users u ON u.id = r.user_id
               WHERE r.org_id = $2 AND r.created_at > now() - make_interval(days => $3)
               GROUP BY 1, 2, 3 ORDER BY 3 DESC, 2""",
            class_id,
            cls["org_id"],
            days,
        )
    return [dict(r) for r in rows]


async def refusals(ctx: HubContext, actor: Actor, org_id: UUID, limit: int) -> list[dict[str, Any]]:
    """Refused questions with their reason: the school's admins review them."""
    async with ctx.db.acting(actor.user_id) as conn:
        if not await conn.fetchval(_IS_ORG_ADMIN, actor.user_id, org_id):
            raise forbidden("Only the school's admins read refused questions")
        rows = await conn.fetch(
            """SELECT id, user_id, refused_question AS question, reason, created_at
               FROM tutor_requests WHERE org_id = $1 AND outcome = 'refused'
               ORDER BY created_at DESC LIMIT $2""",
            org_id,
            limit,
        )
    return [dict(r) for r in rows]


async def observed_conversations(
    ctx: HubContext, actor: Actor, student_id: UUID
) -> list[dict[str, Any]]:
    """The student's tutor conversations the caller may read: their own, their class's
    students' (teachers), their linked child's (parents), if the school allows it."""
    async with ctx.db.acting(actor.user_id) as conn:
        rows = await conn.fetch(
            """SELECT conversation_id, org_id, student_id FROM tutor_conversations
               WHERE student_id = $1 ORDER BY created_at""",
            student_id,
        )
    return [dict(r) for r in rows]


async def observed_messages(
    ctx: HubContext, actor: Actor, conversation_id: UUID, before: int | None, limit: int
) -> list[dict[str, Any]]:
    async with ctx.db.acting(actor.user_id) as conn:
        visible = await conn.fetchval(
            "SELECT 1 FROM tutor_conversations WHERE conversation_id = $1", conversation_id
        )
        if not visible:
            raise not_found("Tutor conversation")
        rows = await conn.fetch(
            f"""SELECT {MESSAGE_COLUMNS}
                FROM app_observed_tutor_messages($1, $2::bigint, $3::int)""",  # noqa: S608
            conversation_id,
            before,
            limit,
        )
    return [message_event(r) for r in reversed(rows)]


async def tutor_settings(ctx: HubContext, actor: Actor, org_id: UUID) -> dict[str, Any]:
    async with ctx.db.acting(actor.user_id) as conn:
        found = await conn.fetchrow("SELECT settings FROM organizations WHERE id = $1", org_id)
    if found is None:
        raise not_found("Organization")
    return dict((found["settings"] or {}).get("tutor") or {})


async def update_tutor_settings(
    ctx: HubContext, actor: Actor, org_id: UUID, body: TutorSettings
) -> dict[str, Any]:
    """A school's admins turn the tutor on or off and choose who may read its conversations."""
    async with ctx.db.acting(actor.user_id) as conn:
        org = await conn.fetchrow("SELECT zone_id FROM organizations WHERE id = $1", org_id)
        if org is None:
            raise not_found("Organization")
        if not await conn.fetchval(_IS_ORG_ADMIN, actor.user_id, org_id):
            raise forbidden("Only the school's admins change its tutor settings")
        value = body.model_dump()
        await conn.execute(
            """UPDATE organizations
               SET settings = settings || jsonb_build_object('tutor', $2::jsonb)
               WHERE id = $1""",
            org_id,
            value,
        )
        await audit.record(
            conn,
            "organization.tutor_settings",
            actor_id=actor.user_id,
            target_type="organization",
            target_id=org_id,
            zone_id=org["zone_id"],
            org_id=org_id,
            details=value,
        )
    return value
