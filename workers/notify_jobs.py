"""Notification jobs. Thin: each calls domain functions with the worker's resources."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hub.context import HubContext
from hub.notify import dispatch, held, mailing, outbox
from hub.notify.email import EmailSender
from hub.notify.push import PushSender
from workers.base import durable


def _hub(ctx: dict[str, Any]) -> HubContext:
    hub: HubContext = ctx["hub"]
    return hub


def _push(ctx: dict[str, Any]) -> PushSender:
    push: PushSender = ctx["push"]
    return push


def _email(ctx: dict[str, Any]) -> EmailSender:
    email: EmailSender = ctx["email"]
    return email


@durable
async def notify_conversation(ctx: dict[str, Any], conversation_id: str) -> int:
    """New messages in a conversation (one job per burst window): tell the offline members."""
    outcome = await dispatch.conversation_activity(_hub(ctx), _push(ctx), UUID(conversation_id))
    if outcome.announcement and outcome.dedup_key:
        await mailing.announcement_emails(_hub(ctx), _email(ctx), outcome.dedup_key)
    return outcome.pushed


@durable
async def notify_users(
    ctx: dict[str, Any],
    user_ids: list[str],
    kind: str,
    title: str,
    body: str,
    data: dict[str, str],
    dedup_key: str,
    urgent: bool,
) -> int:
    """A notification for named people (parent alerts, link requests and answers); an exam
    result is also e-mailed, after it is recorded (the e-mail marks the recorded row)."""
    pushed = await dispatch.tell_users(
        _hub(ctx),
        _push(ctx),
        [UUID(u) for u in user_ids],
        kind=kind,
        title=title,
        body=body,
        data=data,
        dedup_key=dedup_key,
        urgent=urgent,
    )
    if kind == "exam_result":
        await mailing.exam_result_emails(_hub(ctx), _email(ctx), dedup_key)
    return pushed


@durable
async def release_held_notifications(ctx: dict[str, Any]) -> int:
    """Scheduled: quiet hours are over for someone; one summary push each."""
    return await held.release_held(_hub(ctx), _push(ctx))


@durable
async def send_email_digests(ctx: dict[str, Any]) -> int:
    """Scheduled: one e-mail per person for what stayed unread past their delay."""
    return await mailing.send_digests(_hub(ctx), _email(ctx))


@durable
async def sweep_notify_outbox(ctx: dict[str, Any]) -> int:
    """Re-queue the push jobs Redis lost and send the pushes left pending (the outbox)."""
    done = await outbox.sweep(_hub(ctx), _push(ctx))
    return done.requeued + done.redelivered
