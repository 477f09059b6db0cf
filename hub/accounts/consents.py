"""Consent records (privacy policy, terms, ...): an append-only history per user.

A parent with an approved link records decisions for their child (source 'parent'). A
withdrawal of a required consent closes the account's sessions and forgets its devices:
the rule is in hub/privacy/consent.py.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hub import metrics
from hub.accounts import audit
from hub.accounts.sessions import mark_session_revoked
from hub.context import Actor, HubContext, RequestMeta
from hub.db import Connection, fetch_returning
from hub.errors import forbidden
from hub.privacy.consent import REQUIRED, Source
from schema.models.accounts import ConsentCreate

_COLUMNS = "id, user_id, kind, version, granted, source, recorded_at"


async def record_consent(
    ctx: HubContext, actor: Actor, body: ConsentCreate, meta: RequestMeta
) -> dict[str, Any]:
    subject = body.user_id or actor.user_id
    source = Source.SELF if subject == actor.user_id else Source.PARENT
    # A parent writes another person's row: outside RLS, once the link is checked.
    opened = ctx.db.acting(actor.user_id) if source is Source.SELF else ctx.db.system()
    async with opened as conn:
        if source is Source.PARENT:
            await _check_parent(conn, actor.user_id, subject)
        row = await fetch_returning(
            conn,
            f"""INSERT INTO consents (user_id, kind, version, granted, recorded_at, ip,
                                      user_agent, source, recorded_by)
                VALUES ($1, $2, $3, $4, $5, $6::inet, $7, $8, $9)
                RETURNING {_COLUMNS}""",  # noqa: S608
            subject,
            body.kind,
            body.version,
            body.granted,
            ctx.clock(),
            meta.ip,
            (meta.user_agent or "")[:300] or None,
            source.value,
            actor.user_id,
        )
        revoked: list[UUID] = []
        if not body.granted and body.kind in (*REQUIRED, "push_notifications"):
            # Withdrawn: no device of theirs is pushed to again (they re-register to opt in).
            await conn.execute("DELETE FROM devices WHERE user_id = $1", subject)
        if not body.granted and body.kind in REQUIRED:
            revoked = await _close_sessions(ctx, conn, subject)
        await audit.record(
            conn,
            "consent.record",
            actor_id=actor.user_id,
            target_type="consent",
            target_id=row["id"],
            meta=meta,
            details={
                "kind": body.kind,
                "version": body.version,
                "granted": body.granted,
                **({"for": str(subject)} if source is Source.PARENT else {}),
                **({"sessions_revoked": len(revoked)} if revoked else {}),
            },
        )
    for session_id in revoked:
        await mark_session_revoked(ctx, subject, session_id, "consent_withdrawn")
    return dict(row)


async def _check_parent(conn: Connection, parent_id: UUID, child_id: UUID) -> None:
    linked = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM parent_links WHERE parent_id = $1
           AND student_id = $2 AND status = 'approved')""",
        parent_id,
        child_id,
    )
    if not linked:
        metrics.PRIVACY_REFUSALS.labels("consent_forbidden").inc()
        raise forbidden("You may record your own consents, or a linked child's")


async def _close_sessions(ctx: HubContext, conn: Connection, user_id: UUID) -> list[UUID]:
    """Every session of the person ends: the service is not theirs to use until they
    consent again (their refresh tokens die with the sessions)."""
    rows = await conn.fetch(
        """UPDATE sessions SET revoked_at = $2, revoked_reason = 'consent_withdrawn'
           WHERE user_id = $1 AND revoked_at IS NULL RETURNING id""",
        user_id,
        ctx.clock(),
    )
    return [r["id"] for r in rows]


async def list_consents(ctx: HubContext, actor: Actor) -> list[dict[str, Any]]:
    async with ctx.db.acting(actor.user_id) as conn:
        rows = await conn.fetch(
            f"""SELECT {_COLUMNS} FROM consents WHERE user_id = $1
                ORDER BY recorded_at DESC, id DESC""",  # noqa: S608
            actor.user_id,
        )
    return [dict(r) for r in rows]
