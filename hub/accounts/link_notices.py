"""What the parent and the student are told about a parent link, on their phones, each in
their own language: the texts are the notification templates (hub/notify/templates.py)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hub.context import HubContext
from hub.notify import enqueue, templates


async def _people(ctx: HubContext, link: dict[str, Any]) -> dict[UUID, Any]:
    # The two sides may not share a school yet (a pending request): reading their names and
    # languages for the notice crosses the tenant wall by the link rule.
    async with ctx.db.system() as conn:
        rows = await conn.fetch(
            "SELECT id, email, display_name, language FROM users WHERE id = ANY($1::uuid[])",
            [link["parent_id"], link["student_id"]],
        )
    return {r["id"]: r for r in rows}


def _urls(ctx: HubContext) -> tuple[str, str]:
    base = ctx.settings.public_url.rstrip("/")
    return f"{base}/app/links", f"{base}/app/settings/notifications"


async def _tell(
    ctx: HubContext, user: Any, link: dict[str, Any], email: templates.RenderedEmail
) -> None:
    title, body = templates.push_text(email)
    status = str(link["status"])
    await enqueue.tell_users(
        ctx,
        [user["id"]],
        kind="parent_link",
        title=title,
        body=body,
        data={"link_id": str(link["id"]), "status": status},
        dedup_key=f"link:{link['id']}:{status}:{user['id']}",
    )


async def requested(ctx: HubContext, link: dict[str, Any]) -> None:
    """To the student: a parent asks to be linked."""
    people = await _people(ctx, link)
    parent, student = people[link["parent_id"]], people[link["student_id"]]
    url, settings_url = _urls(ctx)
    days = max(1, round((link["expires_at"] - link["requested_at"]).total_seconds() / 86400))
    email = templates.link_request(
        student["language"],
        parent_name=parent["display_name"],
        parent_email=parent["email"],
        student_name=student["display_name"],
        valid_days=days,
        link=url,
        settings_url=settings_url,
    )
    await _tell(ctx, student, link, email)


async def answered(ctx: HubContext, link: dict[str, Any]) -> None:
    """To the parent: the student approved or rejected the request."""
    people = await _people(ctx, link)
    parent, student = people[link["parent_id"]], people[link["student_id"]]
    url, settings_url = _urls(ctx)
    email = templates.link_answer(
        parent["language"],
        student_name=student["display_name"],
        status=link["status"],
        link=url,
        settings_url=settings_url,
    )
    await _tell(ctx, parent, link, email)


async def expired(ctx: HubContext, link: dict[str, Any]) -> None:
    """To the student only: nobody answered in time (the parent is not told, see links.py)."""
    people = await _people(ctx, link)
    parent, student = people[link["parent_id"]], people[link["student_id"]]
    url, settings_url = _urls(ctx)
    to_student = templates.link_expired_for_student(
        student["language"],
        parent_name=parent["display_name"],
        link=url,
        settings_url=settings_url,
    )
    await _tell(ctx, student, link, to_student)
