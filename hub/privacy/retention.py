"""The retention schedule: each sweep removes or blanks what has outlived its period.

A sweep works in batches, each its own short transaction, until a batch comes back short: no
lock is held for long, and a sweep killed halfway leaves committed batches done and the rest
for its next run (the conditions select only what is still due). Running a sweep again changes
nothing. Periods are settings (RETENTION_*), measured on the hub's clock.

Clock jumps: the scheduled sweeps (`check_clock`) first compare the hub's clock with the
database's. A hub clock stepped forward would make every cutoff late and take rows before
their period is over, which nothing can undo; so when the two differ by more than
CLOCK_SKEW_MAX the sweep is refused (counted, retried, dead-lettered by the job wrapper) and
the next run, on a corrected clock, takes what is due. Both clocks jumping together (the
embedded server on the same host) cannot be seen from here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub import metrics
from hub.context import HubContext
from hub.files import releasing

logger = logging.getLogger("dreamseed.privacy")

CLOCK_SKEW_MAX = timedelta(hours=1)


class ClockSkewError(Exception):
    pass


async def check_clock(ctx: HubContext) -> None:
    """Refuse to sweep while the hub's clock and the database's disagree (see above)."""
    async with ctx.db.system() as conn:
        database_now: datetime = await conn.fetchval("SELECT now()")
    skew = ctx.clock() - database_now
    if abs(skew) > CLOCK_SKEW_MAX:
        metrics.PRIVACY_REFUSALS.labels("clock_skew").inc()
        raise ClockSkewError(
            f"The hub's clock is {skew} off the database's (at most {CLOCK_SKEW_MAX}): "
            "no retention sweep runs until they agree"
        )


@dataclass(frozen=True)
class Sweep:
    """One batched statement: $1 is the cutoff, $2 the batch size; it returns one row per
    row it touched (a storage key where there are bytes to let go)."""

    name: str
    table: str
    sql: str


NOTIFICATIONS = Sweep(
    "notifications",
    "notifications",
    """DELETE FROM notifications WHERE id IN (
           SELECT id FROM notifications WHERE created_at < $1 LIMIT $2)
       RETURNING NULL::text""",
)
PROCTOR_DETAIL = Sweep(
    "proctor_detail",
    "proctor_events",
    """UPDATE proctor_events SET details = '{}'::jsonb WHERE id IN (
           SELECT id FROM proctor_events
           WHERE server_at < $1 AND details <> '{}'::jsonb LIMIT $2)
       RETURNING NULL::text""",
)
# A deleted message keeps its place; its text goes once the period (a window for moderation
# and reports) has passed. Messages of an erased sender whose send raced the erasure go too.
DELETED_TEXT = Sweep(
    "deleted_text",
    "messages",
    """UPDATE messages SET content = '', search_tokens = NULL WHERE id IN (
           SELECT id FROM messages
           WHERE deleted_at < $1 AND content <> ''
           UNION ALL
           SELECT m.id FROM erasures e JOIN messages m ON m.sender_id = e.subject_id
           WHERE e.status = 'done' AND m.content <> ''
           LIMIT $2)
       RETURNING NULL::text""",
)
AUDIT_ARCHIVE = Sweep(
    "audit_archive",
    "audit_log",
    """WITH moved AS (
           DELETE FROM audit_log WHERE id IN (
               SELECT id FROM audit_log WHERE at < $1 ORDER BY id LIMIT $2)
           RETURNING id, at, actor_id, action, target_type, target_id, zone_id, org_id, ip,
                     details)
       INSERT INTO audit_archive (id, at, actor_id, action, target_type, target_id, zone_id,
                                  org_id, ip, details)
       SELECT * FROM moved ON CONFLICT (id) DO NOTHING
       RETURNING NULL::text""",
)
AUDIT_EXPIRY = Sweep(
    "audit_expiry",
    "audit_archive",
    """DELETE FROM audit_archive WHERE id IN (
           SELECT id FROM audit_archive WHERE at < $1 LIMIT $2)
       RETURNING NULL::text""",
)
TUTOR_RECORDS = Sweep(
    "tutor_records",
    "tutor_requests",
    """DELETE FROM tutor_requests WHERE id IN (
           SELECT id FROM tutor_requests
           WHERE created_at < $1 AND outcome NOT IN ('queued', 'streaming') LIMIT $2)
       RETURNING NULL::text""",
)
EXPORTS = Sweep(
    "exports",
    "data_exports",
    """DELETE FROM data_exports WHERE id IN (
           SELECT id FROM data_exports WHERE expires_at < $1 LIMIT $2)
       RETURNING storage_key""",
)


async def sweep(
    ctx: HubContext, job: Sweep, cutoff: datetime, *, max_batches: int | None = None
) -> int:
    """Run one sweep to the end (or for max_batches batches); the rows it touched."""
    size, total, batches = ctx.settings.retention_batch, 0, 0
    while max_batches is None or batches < max_batches:
        async with ctx.db.system() as conn:
            rows = await conn.fetch(job.sql, cutoff, size)
        keys = [r[0] for r in rows if r[0]]
        if keys:
            await releasing.release_keys(ctx, keys)
        total += len(rows)
        batches += 1
        metrics.PRIVACY_ROWS.labels(job.name, job.table).inc(len(rows))
        if len(rows) < size:
            break
    logger.info("retention %s: %d row(s) of %s", job.name, total, job.table)
    return total


def _ago(ctx: HubContext, days: int) -> datetime:
    return ctx.clock() - timedelta(days=days)


def cutoffs(ctx: HubContext) -> dict[str, tuple[Sweep, datetime]]:
    """Each sweep with its cutoff now, from the settings."""
    s = ctx.settings
    return {
        job.name: (job, cutoff)
        for job, cutoff in (
            (NOTIFICATIONS, _ago(ctx, s.retention_notifications_days)),
            (PROCTOR_DETAIL, _ago(ctx, s.retention_proctor_detail_days)),
            (DELETED_TEXT, _ago(ctx, s.retention_deleted_text_days)),
            (AUDIT_ARCHIVE, _ago(ctx, s.retention_audit_days)),
            (AUDIT_EXPIRY, _ago(ctx, s.retention_audit_archive_days)),
            (TUTOR_RECORDS, _ago(ctx, s.retention_tutor_days)),
            (EXPORTS, ctx.clock()),
        )
    }


async def run(ctx: HubContext, name: str, *, max_batches: int | None = None) -> int:
    job, cutoff = cutoffs(ctx)[name]
    return await sweep(ctx, job, cutoff, max_batches=max_batches)
