"""The report queue: an organization's administrators see what members reported, with the
message and the messages around it, and resolve each report by dismissing it, deleting the
message, warning its sender or muting the sender for a time. The reporter is told it was
handled (not how: the sanction is between the school and the sender).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from uuid import UUID

from hub.accounts import audit
from hub.accounts.roles import load_roles
from hub.chat.rows import MESSAGE_COLUMNS, message_event
from hub.clock import wire_time
from hub.context import Actor, HubContext, RequestMeta
from hub.db import Connection
from hub.errors import DomainError, ErrorCode, forbidden, not_found
from hub.notify import enqueue
from hub.notify.templates import Language, language_of
from schema.models.reports import ReportAction, ReportResolve, ReportStatus

CONTEXT_MESSAGES = 3  # before and after the reported one

_REPORTS = """
    SELECT r.id, r.message_id, r.reporter_id, r.reason, r.created_at, r.resolved_at,
           r.resolution, r.resolved_by, r.note, m.conversation_id, m.seq, m.sender_id,
           m.org_id
    FROM message_reports r JOIN messages m ON m.id = r.message_id
    WHERE r.org_id = $1
      AND ($2::text = 'all' OR ($2 = 'open') = (r.resolved_at IS NULL))
    ORDER BY r.created_at {order}, r.id
    LIMIT $3"""

# The reported message and its neighbours (deleted ones keep their place, without content).
_AROUND = f"""
    SELECT {MESSAGE_COLUMNS}, (SELECT display_name FROM users WHERE id = sender_id) AS sender_name
    FROM messages WHERE conversation_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq"""  # noqa: S608


async def _require_admin(conn: Connection, actor: Actor, org_id: UUID) -> None:
    zone_id = await conn.fetchval("SELECT zone_id FROM organizations WHERE id = $1", org_id)
    if zone_id is None:
        raise not_found("Organization")
    if not (await load_roles(conn, actor.user_id)).can_manage_org(org_id, zone_id):
        raise forbidden("Only administrators of this organization see its reports")


async def list_reports(
    ctx: HubContext, actor: Actor, org_id: UUID, status: ReportStatus, limit: int
) -> list[dict[str, Any]]:
    """Reports of the organization (open ones oldest first), each with its message in context."""
    order = "ASC" if status is ReportStatus.OPEN else "DESC"
    async with ctx.db.acting(actor.user_id) as conn:
        await _require_admin(conn, actor, org_id)
    # Administrators are in few conversations: reading a reported message and its neighbours
    # crosses the participants' wall by rule, inside the organization they administer.
    async with ctx.db.system() as conn:
        rows = await conn.fetch(_REPORTS.format(order=order), org_id, str(status), limit)
        return [await _with_context(conn, dict(r)) for r in rows]


async def _with_context(conn: Connection, report: dict[str, Any]) -> dict[str, Any]:
    around = await conn.fetch(
        _AROUND,
        report["conversation_id"],
        report["seq"] - CONTEXT_MESSAGES,
        report["seq"] + CONTEXT_MESSAGES,
    )
    messages = [message_event(r) for r in around]
    report["message"] = next(m for m in messages if m["id"] == str(report["message_id"]))
    report["context"] = messages
    return report


async def resolve_report(
    ctx: HubContext, actor: Actor, report_id: int, body: ReportResolve, meta: RequestMeta
) -> dict[str, Any]:
    """Close a report with one action; the reporter is told, the sender warned or muted."""
    now = ctx.clock()
    deleted: dict[str, Any] | None = None
    async with ctx.db.acting(actor.user_id) as conn:
        org_id = await conn.fetchval("SELECT org_id FROM message_reports WHERE id = $1", report_id)
        if org_id is None:
            raise not_found("Report")
        await _require_admin(conn, actor, org_id)
    # As in list_reports: the admin acts on a message of a conversation they may not be in.
    async with ctx.db.system() as conn:
        report = await conn.fetchrow(
            """SELECT r.id, r.org_id, r.zone_id, r.reporter_id, r.resolved_at, r.message_id,
                      m.conversation_id, m.sender_id, m.deleted_at
               FROM message_reports r JOIN messages m ON m.id = r.message_id
               WHERE r.id = $1 FOR UPDATE OF r""",
            report_id,
        )
        if report is None:
            raise not_found("Report")
        if report["resolved_at"] is not None:
            raise DomainError(ErrorCode.CONFLICT, "This report was already resolved")
        action = body.action
        if action is ReportAction.DELETE and report["deleted_at"] is None:
            deleted = await _delete_message(conn, report["message_id"], report["conversation_id"])
        muted_until = None
        if action is ReportAction.MUTE and report["sender_id"] is not None:
            assert body.mute_minutes is not None  # noqa: S101 - the model requires it
            muted_until = now + timedelta(minutes=body.mute_minutes)
            await conn.execute(
                """INSERT INTO member_mutes (org_id, zone_id, user_id, muted_until, muted_by,
                                             report_id)
                   VALUES ($1, $2, $3, $4, $5, $6)""",
                report["org_id"],
                report["zone_id"],
                report["sender_id"],
                muted_until,
                actor.user_id,
                report_id,
            )
        # Every open report of the same message is settled by one decision.
        closed = await conn.fetch(
            """UPDATE message_reports SET resolved_at = $2, resolution = $3, resolved_by = $4,
                      note = $5
               WHERE message_id = $1 AND resolved_at IS NULL RETURNING id, reporter_id""",
            report["message_id"],
            now,
            action.past,
            actor.user_id,
            body.note,
        )
        await audit.record(
            conn,
            f"report.{action.past}",
            actor_id=actor.user_id,
            target_type="message",
            target_id=report["message_id"],
            zone_id=report["zone_id"],
            org_id=report["org_id"],
            meta=meta,
            details={
                "report_ids": [r["id"] for r in closed],
                "sender_id": str(report["sender_id"]),
                **({"muted_until": wire_time(muted_until)} if muted_until else {}),
            },
        )
    if deleted is not None:
        await ctx.bus.to_conversation(
            report["conversation_id"],
            "message.deleted",
            {k: deleted[k] for k in ("id", "conversation_id", "seq", "change_seq", "deleted_at")},
        )
    await _tell(ctx, report, closed, action, muted_until)
    return {
        "id": report_id,
        "resolution": action.past,
        "resolved_at": now,
        "closed_report_ids": [r["id"] for r in closed],
        "muted_until": muted_until,
    }


async def _delete_message(conn: Connection, message_id: UUID, conversation_id: UUID) -> Any:
    change = await conn.fetchval(
        "UPDATE conversations SET change_seq = change_seq + 1 WHERE id = $1 RETURNING change_seq",
        conversation_id,
    )
    row = await conn.fetchrow(
        f"""UPDATE messages SET deleted_at = now(), change_seq = $2, search_tokens = NULL
            WHERE id = $1 RETURNING {MESSAGE_COLUMNS}""",  # noqa: S608
        message_id,
        change,
    )
    return message_event(row)


async def _tell(
    ctx: HubContext,
    report: Any,
    closed: list[Any],
    action: ReportAction,
    muted_until: Any,
) -> None:
    """Reporters hear that their report was handled; a warned or muted sender hears why. Each
    in their own language."""
    reporters = sorted({r["reporter_id"] for r in closed}, key=str)
    message_id = str(report["message_id"])
    for reporter in reporters:
        await ctx.bus.to_user(
            reporter, "report.resolved", {"message_id": message_id, "resolution": "handled"}
        )
    sender = report["sender_id"]
    warned = sender is not None and action in (ReportAction.WARN, ReportAction.MUTE)
    async with ctx.db.system() as conn:  # languages of people in the admin's school
        languages = {
            r["id"]: language_of(r["language"])
            for r in await conn.fetch(
                "SELECT id, language FROM users WHERE id = ANY($1::uuid[])",
                [*reporters, *([sender] if warned else [])],
            )
        }
    for reporter in reporters:
        title, body = _HANDLED[languages.get(reporter, "ko")]
        await enqueue.tell_users(
            ctx,
            [reporter],
            kind="report_resolved",
            title=title,
            body=body,
            data={"message_id": message_id},
            dedup_key=f"report:{message_id}:{action.past}:{reporter}",
        )
    if not warned:
        return
    data = {"message_id": message_id, "resolution": action.past}
    if muted_until is not None:
        data["muted_until"] = wire_time(muted_until)
    await ctx.bus.to_user(sender, "moderation.notice", data)
    title, warning, muting = _SANCTION[languages.get(sender, "ko")]
    await enqueue.tell_users(
        ctx,
        [sender],
        kind="moderation",
        title=title,
        body=muting if muted_until is not None else warning,
        data=data,
        dedup_key=f"moderation:{message_id}:{action.past}",
    )


_HANDLED: Mapping[Language, tuple[str, str]] = {
    "ko": ("신고가 처리되었어요", "학교 관리자가 신고하신 메시지를 확인하고 조치했어요."),
    "en": ("Your report was handled", "Your school's administrators reviewed the message."),
}
_SANCTION: Mapping[Language, tuple[str, str, str]] = {
    "ko": (
        "학교 관리자의 경고",
        "신고된 메시지에 대해 경고를 받았어요. 학교 규칙을 지켜 주세요.",
        "신고된 메시지 때문에 한동안 메시지를 보낼 수 없어요.",
    ),
    "en": (
        "A warning from your school",
        "You were warned about a reported message. Please follow the school's rules.",
        "Because of a reported message you cannot send messages for a while.",
    ),
}
