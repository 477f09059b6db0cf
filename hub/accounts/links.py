"""Parent–student links: the parent asks, the student answers, silence expires in 7 days."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg

from hub import metrics
from hub.accounts import audit, link_notices
from hub.context import Actor, HubContext, RequestMeta
from hub.db import fetch_returning
from hub.errors import DomainError, ErrorCode, forbidden, not_found
from hub.ratelimit import RateLimiter

_LINK_COLUMNS = (
    "id, org_id, parent_id, student_id, status::text, requested_at, expires_at, answered_at"
)


# The one answer to every link request, whoever the e-mail belongs to: an outsider learns
# nothing about who studies where until the student approves.
REQUESTED = {
    "status": "requested",
    "message": "If this e-mail belongs to a student, they have been asked to confirm you",
}


async def request_link(
    ctx: HubContext, actor: Actor, student_email: str, meta: RequestMeta
) -> dict[str, Any]:
    """Ask a student to confirm the caller as their parent.

    The answer is the same whether the e-mail is a student's, a teacher's, unknown or already
    linked; students may not ask, and each caller may ask a few times an hour.
    """
    now = ctx.clock()
    await _limit_requests(ctx, actor)
    # The parent does not share an organization with the child yet, so finding the child
    # crosses the tenant wall: the link rule is the one that allows it.
    async with ctx.db.system() as conn:
        if await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM memberships WHERE user_id = $1 AND role = 'student')",
            actor.user_id,
        ):
            raise forbidden("Students cannot ask to be linked as a parent")
        student = await conn.fetchrow(
            """SELECT u.id, m.org_id, m.zone_id FROM users u
               JOIN memberships m ON m.user_id = u.id AND m.role = 'student'
               WHERE u.email = $1 AND u.deleted_at IS NULL
               ORDER BY m.created_at LIMIT 1""",
            student_email.lower(),
        )
        if student is None or student["id"] == actor.user_id:
            return REQUESTED
        try:
            async with conn.transaction():
                link = await conn.fetchrow(
                    f"""INSERT INTO parent_links (org_id, zone_id, parent_id, student_id,
                                                  requested_at, expires_at)
                        VALUES ($1, $2, $3, $4, $5, $6)
                        ON CONFLICT DO NOTHING RETURNING {_LINK_COLUMNS}""",  # noqa: S608
                    student["org_id"],
                    student["zone_id"],
                    actor.user_id,
                    student["id"],
                    now,
                    now + timedelta(seconds=ctx.settings.link_request_ttl_s),
                )
        except asyncpg.UniqueViolationError:
            link = None
        if link is None:  # already pending or approved: the same answer, nothing new
            return REQUESTED
        await audit.record(
            conn,
            "parent_link.request",
            actor_id=actor.user_id,
            target_type="parent_link",
            target_id=link["id"],
            zone_id=student["zone_id"],
            org_id=student["org_id"],
            meta=meta,
        )
    result = dict(link)
    await ctx.bus.to_user(student["id"], "parent_link.requested", _event(result))
    await link_notices.requested(ctx, result)
    return REQUESTED


async def _limit_requests(ctx: HubContext, actor: Actor) -> None:
    limiter = RateLimiter(ctx.redis, ctx.settings.link_requests_per_hour, 3600)
    decision = await limiter.hit(
        ctx.keys.rate_limit(f"link:{actor.user_id}"), int(ctx.clock().timestamp() * 1000)
    )
    if not decision.allowed:
        metrics.RATE_LIMITED.labels("links").inc()
        raise DomainError(
            ErrorCode.RATE_LIMITED,
            f"Too many link requests: at most {limiter.limit} an hour",
            retry_after=max(1, round(decision.retry_after_s + 0.5)),
        )


async def answer_link(
    ctx: HubContext, actor: Actor, link_id: UUID, approve: bool, meta: RequestMeta
) -> dict[str, Any]:
    """The student approves or rejects. Approval makes the parent a parent of the school."""
    now = ctx.clock()
    expired: asyncpg.Record | None = None
    async with ctx.db.acting(actor.user_id) as conn:
        link = await conn.fetchrow(
            f"SELECT {_LINK_COLUMNS}, zone_id FROM parent_links WHERE id = $1 FOR UPDATE",  # noqa: S608
            link_id,
        )
        if link is None:
            raise not_found("Link request")
        if link["student_id"] != actor.user_id:
            raise forbidden("Only the student can answer this link request")
        if link["status"] != "pending":
            raise DomainError(ErrorCode.CONFLICT, f"This link request is already {link['status']}")
        if link["expires_at"] <= now:
            # Closed here rather than by the job: audit it and tell both sides as the job would.
            expired = await fetch_returning(
                conn,
                f"""UPDATE parent_links SET status = 'expired' WHERE id = $1
                    RETURNING {_LINK_COLUMNS}""",  # noqa: S608
                link_id,
            )
            await audit.record(
                conn,
                "parent_link.expired",
                actor_id=None,
                target_type="parent_link",
                target_id=link_id,
                zone_id=link["zone_id"],
                org_id=link["org_id"],
            )
        else:
            status = "approved" if approve else "rejected"
            updated = await fetch_returning(
                conn,
                f"""UPDATE parent_links SET status = $2, answered_at = $3 WHERE id = $1
                    RETURNING {_LINK_COLUMNS}""",  # noqa: S608
                link_id,
                status,
                now,
            )
            if approve:
                await conn.execute(
                    """INSERT INTO memberships (org_id, zone_id, user_id, role)
                       VALUES ($1, $2, $3, 'parent') ON CONFLICT DO NOTHING""",
                    link["org_id"],
                    link["zone_id"],
                    link["parent_id"],
                )
            await audit.record(
                conn,
                f"parent_link.{status}",
                actor_id=actor.user_id,
                target_type="parent_link",
                target_id=link_id,
                zone_id=link["zone_id"],
                org_id=link["org_id"],
                meta=meta,
            )
    if expired is not None:
        await _tell_expired(ctx, dict(expired))
        raise DomainError(ErrorCode.LINK_EXPIRED, "This link request has expired")
    result = dict(updated)
    if approve:  # a rejection is not told: the parent must not learn who is a student
        await ctx.bus.to_user(result["parent_id"], f"parent_link.{status}", _event(result))
        await link_notices.answered(ctx, result)
    return result


async def list_links(ctx: HubContext, actor: Actor) -> list[dict[str, Any]]:
    async with ctx.db.acting(actor.user_id) as conn:
        rows = await conn.fetch(
            f"""SELECT {_LINK_COLUMNS} FROM parent_links
                WHERE (parent_id = $1 AND status = 'approved') OR student_id = $1
                ORDER BY requested_at DESC""",  # noqa: S608
            actor.user_id,
        )
    return [dict(r) for r in rows]


async def expire_pending(ctx: HubContext) -> int:
    """Scheduled: close requests nobody answered in time and tell both sides."""
    async with ctx.db.system() as conn:
        rows = await conn.fetch(
            f"""UPDATE parent_links SET status = 'expired'
                WHERE status = 'pending' AND expires_at <= $1
                RETURNING {_LINK_COLUMNS}, zone_id""",  # noqa: S608
            ctx.clock(),
        )
        for row in rows:
            await audit.record(
                conn,
                "parent_link.expired",
                actor_id=None,
                target_type="parent_link",
                target_id=row["id"],
                zone_id=row["zone_id"],
                org_id=row["org_id"],
            )
    for row in rows:
        await _tell_expired(ctx, dict(row))
    return len(rows)


async def _tell_expired(ctx: HubContext, link: dict[str, Any]) -> None:
    """The student hears that nobody answered in time: live, and on their phone. The parent
    is not told, as for a rejection: an expiry would say the e-mail is a student's."""
    await ctx.bus.to_user(link["student_id"], "parent_link.expired", _event(link))
    await link_notices.expired(ctx, link)


def _event(link: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(link["id"]),
        "parent_id": str(link["parent_id"]),
        "student_id": str(link["student_id"]),
        "status": link["status"],
    }
