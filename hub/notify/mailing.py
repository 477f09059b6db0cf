"""E-mail: announcements for those who chose it, exam results for parents who keep e-mail on,
and one digest per person for what stayed unread too long (never one e-mail per message)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

from hub.context import HubContext
from hub.notify import templates
from hub.notify.email import EmailDeliveryError, EmailSender, Outcome

logger = logging.getLogger("dreamseed.notify")


def _links(ctx: HubContext) -> tuple[str, str]:
    base = ctx.settings.public_url.rstrip("/")
    return f"{base}/app", f"{base}/app/settings/notifications"


async def announcement_emails(ctx: HubContext, sender: EmailSender, dedup_key: str) -> int:
    """E-mail the announcement behind these notifications to members who chose e-mail."""
    if not sender.enabled:
        return 0
    async with ctx.db.system() as conn:
        rows = await conn.fetch(
            """SELECT n.id, u.email, u.display_name, u.language, c.title AS conversation,
                      o.name AS school, m.content, s.display_name AS teacher
               FROM notifications n
               JOIN users u ON u.id = n.user_id
               JOIN conversations c ON c.id = (n.data->>'conversation_id')::uuid
               JOIN organizations o ON o.id = c.org_id
               JOIN participants p ON p.conversation_id = c.id AND p.user_id = n.user_id
               JOIN messages m ON m.conversation_id = c.id AND m.seq = (n.data->>'seq')::bigint
               LEFT JOIN users s ON s.id = m.sender_id
               WHERE n.dedup_key = $1 AND n.kind = 'announcement' AND n.emailed_at IS NULL
                 AND p.email_enabled AND u.deleted_at IS NULL""",
            dedup_key,
        )
    link, settings_url = _links(ctx)
    sent, _ = await _mail_notifications(
        ctx,
        sender,
        rows,
        lambda r: templates.announcement(
            r["language"],
            school_name=r["school"],
            teacher_name=r["teacher"] or "",
            title=r["conversation"] or "",
            body=r["content"] or "",
            link=link,
            settings_url=settings_url,
        ),
    )
    return sent


async def exam_result_emails(ctx: HubContext, sender: EmailSender, dedup_key: str) -> int:
    """E-mail the exam result behind these notifications to parents who keep e-mail on (no
    preferences row: on), once each. A temporary refusal raises, so the job tries again."""
    if not sender.enabled:
        return 0
    async with ctx.db.system() as conn:
        rows = await conn.fetch(
            """SELECT n.id, u.email, u.display_name, u.language, a.exam_id, a.score,
                      a.max_score, e.title AS exam, s.display_name AS child
               FROM notifications n
               JOIN users u ON u.id = n.user_id
               LEFT JOIN notification_preferences np ON np.user_id = n.user_id
               JOIN attempts a ON a.id = (n.data->>'attempt_id')::uuid
               JOIN exams e ON e.id = a.exam_id
               JOIN users s ON s.id = a.student_id
               WHERE n.dedup_key = $1 AND n.kind = 'exam_result' AND n.emailed_at IS NULL
                 AND u.deleted_at IS NULL AND coalesce(np.email_digest, true)""",
            dedup_key,
        )
    base = ctx.settings.public_url.rstrip("/")
    _, settings_url = _links(ctx)
    sent, results = await _mail_notifications(
        ctx,
        sender,
        rows,
        lambda r: templates.exam_result(
            r["language"],
            child_name=r["child"],
            exam_title=r["exam"],
            score=r["score"],
            max_score=r["max_score"],
            link=f"{base}/app/exams/{r['exam_id']}/results",
            settings_url=settings_url,
        ),
    )
    retry = next((res for res in results if res.outcome == Outcome.RETRY), None)
    if retry is not None:
        raise EmailDeliveryError(retry)
    return sent


async def send_digests(ctx: HubContext, sender: EmailSender) -> int:
    """Scheduled: one e-mail per person listing conversations unread past their delay."""
    if not sender.enabled:
        return 0
    now = ctx.clock()
    async with ctx.db.system() as conn:
        rows = await conn.fetch(
            """SELECT p.user_id, p.conversation_id, c.last_seq, u.email, u.display_name,
                      u.language, coalesce(c.title, s.display_name, '') AS title,
                      c.last_seq - greatest(p.last_read_seq, p.last_digest_seq) AS unread,
                      m.content AS last_message, s.display_name AS last_sender
               FROM participants p
               JOIN conversations c ON c.id = p.conversation_id
               JOIN users u ON u.id = p.user_id
               LEFT JOIN notification_preferences np ON np.user_id = p.user_id
               LEFT JOIN messages m ON m.conversation_id = c.id AND m.seq = c.last_seq
               LEFT JOIN users s ON s.id = m.sender_id
               -- the oldest message this person has neither read nor been mailed about
               JOIN messages first_unread ON first_unread.conversation_id = c.id
                    AND first_unread.seq = greatest(p.last_read_seq, p.last_digest_seq) + 1
               WHERE p.left_at IS NULL AND NOT p.muted AND u.deleted_at IS NULL
                 AND coalesce(np.email_digest, true)
                 AND greatest(p.last_read_seq, p.last_digest_seq) < c.last_seq
                 AND m.sender_id IS DISTINCT FROM p.user_id
                 AND first_unread.created_at
                     <= $1::timestamptz - make_interval(secs => coalesce(np.digest_delay_s, 3600))
               ORDER BY p.user_id, c.last_message_at DESC""",
            now,
        )
    by_user: dict[UUID, list[Any]] = {}
    for row in rows:
        by_user.setdefault(row["user_id"], []).append(row)
    link, settings_url = _links(ctx)
    users = list(by_user)
    messages = [
        sender.compose(
            templates.new_messages_digest(
                by_user[u][0]["language"],
                link=link,
                settings_url=settings_url,
                conversations=[
                    templates.DigestConversation(
                        r["title"], r["unread"], r["last_message"] or "", r["last_sender"]
                    )
                    for r in by_user[u]
                ],
            ),
            to=by_user[u][0]["email"],
            to_name=by_user[u][0]["display_name"],
            unsubscribe_url=settings_url,
        )
        for u in users
    ]
    results = await sender.send_many(messages) if messages else []
    done = [u for u, res in zip(users, results, strict=True) if res.outcome == Outcome.OK]
    async with ctx.db.system() as conn:
        await conn.executemany(
            """UPDATE participants SET last_digest_seq = $3
               WHERE conversation_id = $1 AND user_id = $2 AND last_digest_seq < $3""",
            [(r["conversation_id"], r["user_id"], r["last_seq"]) for u in done for r in by_user[u]],
        )
    retry = sum(1 for res in results if res.outcome == Outcome.RETRY)
    if retry:
        logger.warning("%d digest e-mail(s) will be retried on the next run", retry)
    return len(done)


async def _mail_notifications(
    ctx: HubContext,
    sender: EmailSender,
    rows: list[Any],
    render: Callable[[Any], templates.RenderedEmail],
) -> tuple[int, list[Any]]:
    """E-mail one rendered message per notification row; mark those sent (`emailed_at`), so a
    re-run mails only the rest. Returns how many were sent, and every result."""
    settings_url = _links(ctx)[1]
    messages = [
        sender.compose(
            render(r), to=r["email"], to_name=r["display_name"], unsubscribe_url=settings_url
        )
        for r in rows
    ]
    results = await sender.send_many(messages) if messages else []
    sent = [r["id"] for r, res in zip(rows, results, strict=True) if res.outcome == Outcome.OK]
    async with ctx.db.system() as conn:
        await conn.execute(
            "UPDATE notifications SET emailed_at = now() WHERE id = ANY($1::uuid[])", sent
        )
    return len(sent), list(results)
