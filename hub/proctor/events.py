"""What a student's exam client reports: stored with both clocks before it is acknowledged.

An event is committed in the student's own transaction, with the attempt row locked (so the
escalation count cannot race), and only while the attempt is theirs and in progress. Then the
teacher's dashboard hears warning and serious ones, and a serious one alerts the parents
(once per flag). A client that retries with the same `event_id` gets the stored event back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from hub import metrics
from hub.bus import PROCTOR_NAMESPACE, exam_room
from hub.clock import wire_time
from hub.context import Actor, HubContext
from hub.db import Connection, fetch_returning
from hub.exams import alerts
from hub.exams.attempts import check_open, load_attempt
from hub.proctor import flags
from schema.models.proctor import EVENT_ID_KEY, ProctorEvent

_COLUMNS = "id, attempt_id, student_id, kind, severity, client_at, server_at, details"


async def record_event(
    ctx: HubContext, actor: Actor, attempt_id: UUID, body: ProctorEvent
) -> dict[str, Any]:
    """Store one client event of the actor's attempt in progress; tell whom it concerns."""
    return await _record(
        ctx, actor, attempt_id, body.kind, body.client_time, dict(body.details), body.event_id
    )


async def record_reconnect(ctx: HubContext, actor: Actor, attempt_id: UUID) -> dict[str, Any]:
    """The hub saw the attempt's exam client connect again."""
    return await _record(ctx, actor, attempt_id, "reconnect", None, {"source": "hub"}, None)


async def _record(
    ctx: HubContext,
    actor: Actor,
    attempt_id: UUID,
    kind: str,
    client_at: datetime | None,
    details: dict[str, Any],
    event_id: str | None,
) -> dict[str, Any]:
    now = ctx.clock()
    title = None
    async with ctx.db.acting(actor.user_id) as conn:
        attempt = await load_attempt(conn, attempt_id, lock=True, owner=actor)
        row = await _stored(conn, attempt_id, event_id) if event_id else None
        duplicate = row is not None
        if row is None:
            check_open(attempt, now)
            row = await _insert(conn, attempt, kind, client_at, now, details, event_id)
        counts = await flag_counts(conn, attempt_id)
        if row["severity"] == "serious":
            title = await conn.fetchval("SELECT title FROM exams WHERE id = $1", attempt["exam_id"])
    flag = {**dict(row), "flags": counts, "duplicate": duplicate}
    flag["details"] = {k: v for k, v in row["details"].items() if k != EVENT_ID_KEY}
    if not duplicate:
        metrics.PROCTOR_FLAGS.labels(kind, row["severity"]).inc()
        if flags.is_flag(row["severity"]):
            await ctx.bus.to_room(
                PROCTOR_NAMESPACE, exam_room(attempt["exam_id"]), "proctor.flag", _wire(flag)
            )
    if title is not None:
        # Also on a retry: the alert job is deduplicated by the flag's id.
        await alerts.proctor_flag(
            ctx,
            attempt_id=attempt_id,
            exam_id=attempt["exam_id"],
            student_id=attempt["student_id"],
            exam_title=title,
            flag_kind=kind,
            flag_id=row["id"],
        )
    return flag


async def _stored(conn: Connection, attempt_id: UUID, event_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM proctor_events "  # noqa: S608 - constant column list
        "WHERE attempt_id = $1 AND actor_id IS NULL AND details->>$2 = $3",
        attempt_id,
        EVENT_ID_KEY,
        event_id,
    )
    return None if row is None else dict(row)


async def _insert(
    conn: Connection,
    attempt: dict[str, Any],
    kind: str,
    client_at: datetime | None,
    now: datetime,
    details: dict[str, Any],
    event_id: str | None,
) -> dict[str, Any]:
    earlier = await conn.fetchval(
        "SELECT count(*) FROM proctor_events "
        "WHERE attempt_id = $1 AND actor_id IS NULL AND kind = ANY($2::text[])",
        attempt["id"],
        list(flags.WARNING_KINDS),
    )
    severity = flags.severity_of(kind, int(earlier))
    if severity != flags.base_severity(kind):
        details = {**details, "escalated_at_warning": int(earlier) + 1}
    if event_id is not None:
        details = {**details, EVENT_ID_KEY: event_id}
    row = await fetch_returning(
        conn,
        f"""INSERT INTO proctor_events (attempt_id, exam_id, zone_id, org_id, student_id,
                                        kind, severity, client_at, server_at, details)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {_COLUMNS}""",  # noqa: S608
        attempt["id"],
        attempt["exam_id"],
        attempt["zone_id"],
        attempt["org_id"],
        attempt["student_id"],
        kind,
        severity,
        client_at,
        now,
        details,
    )
    return dict(row)


async def flag_counts(conn: Connection, attempt_id: UUID) -> dict[str, int]:
    """The attempt's client events by severity (a proctor's actions are not flags)."""
    counts = {"info": 0, "warning": 0, "serious": 0}
    for r in await conn.fetch(
        "SELECT severity, count(*)::int AS n FROM proctor_events "
        "WHERE attempt_id = $1 AND actor_id IS NULL GROUP BY severity",
        attempt_id,
    ):
        counts[r["severity"]] = r["n"]
    return counts


def _wire(flag: dict[str, Any]) -> dict[str, Any]:
    return {
        **{k: v for k, v in flag.items() if k != "duplicate"},
        "attempt_id": str(flag["attempt_id"]),
        "student_id": str(flag["student_id"]),
        "client_at": wire_time(flag["client_at"]) if flag["client_at"] else None,
        "server_at": wire_time(flag["server_at"]),
    }
