"""Consent records (privacy policy, terms, ...): an append-only history per user."""

from __future__ import annotations

from typing import Any

from hub.accounts import audit
from hub.context import Actor, HubContext, RequestMeta
from hub.db import fetch_returning
from schema.models.accounts import ConsentCreate

_COLUMNS = "id, kind, version, granted, recorded_at"


async def record_consent(
    ctx: HubContext, actor: Actor, body: ConsentCreate, meta: RequestMeta
) -> dict[str, Any]:
    async with ctx.db.acting(actor.user_id) as conn:
        row = await fetch_returning(
            conn,
            f"""INSERT INTO consents (user_id, kind, version, granted, recorded_at, ip, user_agent)
                VALUES ($1, $2, $3, $4, $5, $6::inet, $7) RETURNING {_COLUMNS}""",  # noqa: S608
            actor.user_id,
            body.kind,
            body.version,
            body.granted,
            ctx.clock(),
            meta.ip,
            (meta.user_agent or "")[:300] or None,
        )
        if body.kind == "push_notifications" and not body.granted:
            # Withdrawn: no device of theirs is pushed to again (they re-register to opt in).
            await conn.execute("DELETE FROM devices WHERE user_id = $1", actor.user_id)
        await audit.record(
            conn,
            "consent.record",
            actor_id=actor.user_id,
            target_type="consent",
            target_id=row["id"],
            meta=meta,
            details={"kind": body.kind, "version": body.version, "granted": body.granted},
        )
    return dict(row)


async def list_consents(ctx: HubContext, actor: Actor) -> list[dict[str, Any]]:
    async with ctx.db.acting(actor.user_id) as conn:
        rows = await conn.fetch(
            f"""SELECT {_COLUMNS} FROM consents WHERE user_id = $1
                ORDER BY recorded_at DESC, id DESC""",  # noqa: S608
            actor.user_id,
        )
    return [dict(r) for r in rows]
