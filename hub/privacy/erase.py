"""Erasing a person: every rule of the registry applied, in steps that each commit on their
own (batched where a person can own many rows), then a proof.

A run holds an advisory lock on the erasure for its whole length: a second run of the same
erasure (asked twice, a retried job) waits, then finds it done. The lock is a session lock,
held outside any transaction: a transaction left open for the whole run would keep its
snapshot, and with it every dead row version made meanwhile (the conversations' rows that
each send updates included), for as long as the erasure lasts. Every step only touches what
is still there to erase, so a run killed halfway resumes where it stopped. The identity
(e-mail, name) is scrubbed last, because the redaction of other people's rows needs it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import cast
from uuid import UUID

from hub import metrics
from hub.accounts import audit
from hub.accounts.sessions import mark_session_revoked
from hub.chat import partitions
from hub.context import HubContext
from hub.db import Connection, fetch_returning
from hub.files import releasing, uploads
from hub.files.spool import remove
from hub.privacy import scrub

logger = logging.getLogger("dreamseed.privacy")

ERASED_LABEL = "(탈퇴한 사용자)"
Counts = dict[str, int]


@dataclass(frozen=True)
class Subject:
    erasure_id: UUID
    user_id: UUID
    email: str
    name: str
    pseudonym_id: UUID


def subject_hash(secret: str, user_id: UUID, email: str, name: str) -> str:
    """HMAC-SHA256 of the erased identifiers under the server secret: whoever holds the
    secret can check a claimed identity against the proof; a reader of the proof cannot."""
    text = json.dumps([str(user_id), email, name], ensure_ascii=False)
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


@asynccontextmanager
async def _exclusive(ctx: HubContext, key: str) -> AsyncIterator[None]:
    """A session-level advisory lock on a pooled connection that is closed afterwards, so the
    pool never hands out a connection still holding it (closing releases it on the server)."""
    conn = await ctx.db.pool.acquire()
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", key)
        yield
    finally:
        conn.terminate()
        await ctx.db.pool.release(conn)


async def run(ctx: HubContext, erasure_id: UUID) -> Counts:
    """Apply every rule to the erasure's subject; the counts of the whole erasure."""
    async with _exclusive(ctx, f"erasure:{erasure_id}"):
        async with ctx.db.system() as conn:
            row = await conn.fetchrow(
                "SELECT status, counts FROM erasures WHERE id = $1", erasure_id
            )
        if row is None:
            raise LookupError(f"Erasure {erasure_id} does not exist")
        if row["status"] == "done":
            return cast(Counts, row["counts"])
        subject = await _begin(ctx, erasure_id)
        for name, step in STEPS:
            started = time.perf_counter()
            counts = await step(ctx, subject)
            await _add(ctx, subject, counts)
            took = time.perf_counter() - started
            logger.info("erasure %s: %s %s in %.2f s", erasure_id, name, counts, took)
        return await _finish(ctx, subject)


async def _begin(ctx: HubContext, erasure_id: UUID) -> Subject:
    async with ctx.db.system() as conn:
        row = await fetch_returning(
            conn,
            """SELECT e.subject_id, e.pseudonym_id, u.email, u.display_name
               FROM erasures e JOIN users u ON u.id = e.subject_id WHERE e.id = $1""",
            erasure_id,
        )
        pseudonym = row["pseudonym_id"]
        if pseudonym is None:
            # Exam results and tutor usage stay for statistics, pointing at this row.
            pseudonym = await conn.fetchval(
                """INSERT INTO users (email, password_hash, display_name, deleted_at)
                   VALUES ('pseudonym-' || gen_random_uuid() || '@invalid', '!', $1, now())
                   RETURNING id""",
                ERASED_LABEL,
            )
            await conn.execute(
                """UPDATE erasures SET pseudonym_id = $2, status = 'running',
                          started_at = coalesce(started_at, now()) WHERE id = $1""",
                erasure_id,
                pseudonym,
            )
    return Subject(erasure_id, row["subject_id"], row["email"], row["display_name"], pseudonym)


async def _add(ctx: HubContext, subject: Subject, counts: Counts) -> None:
    for table, n in counts.items():
        metrics.PRIVACY_ROWS.labels("erasure", table).inc(n)
    async with ctx.db.system() as conn:
        await conn.execute(
            """UPDATE erasures SET counts = (
                   SELECT coalesce(jsonb_object_agg(key, total), '{}'::jsonb) FROM (
                       SELECT key, sum(value::int) AS total FROM (
                           SELECT * FROM jsonb_each_text(counts)
                           UNION ALL SELECT * FROM jsonb_each_text($2::jsonb)) AS both_
                       GROUP BY key) AS summed)
               WHERE id = $1""",
            subject.erasure_id,
            {k: v for k, v in counts.items() if v},
        )


async def _close_account(ctx: HubContext, s: Subject) -> Counts:
    """Locked out first: no new session, no socket, no conversation to send to."""
    counts: Counts = {}
    async with ctx.db.system() as conn:
        await conn.execute(
            """UPDATE users SET deleted_at = coalesce(deleted_at, now()), password_hash = '!',
                      updated_at = now() WHERE id = $1""",
            s.user_id,
        )
        counts["participants"] = _n(
            await conn.execute(
                "UPDATE participants SET left_at = now() WHERE user_id = $1 AND left_at IS NULL",
                s.user_id,
            )
        )
        sessions = await conn.fetch(
            """UPDATE sessions SET revoked_at = coalesce(revoked_at, now()),
                      revoked_reason = coalesce(revoked_reason, 'account_erased'),
                      ip = NULL, user_agent = NULL
               WHERE user_id = $1 AND (revoked_at IS NULL OR ip IS NOT NULL
                                       OR user_agent IS NOT NULL)
               RETURNING id""",
            s.user_id,
        )
        counts["sessions"] = len(sessions)
        for table in DELETED_BY_USER:
            counts[table] = _n(
                await conn.execute(f"DELETE FROM {table} WHERE user_id = $1", s.user_id)  # noqa: S608
            )
        counts["consents"] = _n(
            await conn.execute(
                """UPDATE consents SET ip = NULL, user_agent = NULL
                   WHERE user_id = $1 AND (ip IS NOT NULL OR user_agent IS NOT NULL)""",
                s.user_id,
            )
        )
    for session in sessions:
        await mark_session_revoked(ctx, s.user_id, session["id"], "account_erased")
    await ctx.bus.disconnect_user(s.user_id, "account_erased")
    return counts


DELETED_BY_USER = (
    "refresh_tokens",
    "memberships",
    "zone_admins",
    "class_members",
    "member_mutes",
    "invitation_redemptions",
    "notification_preferences",
    "devices",
    "message_acks",
)


# Ids read per page (about 100 bytes each in memory): enough that a conversation's share of a
# page fills whole batches, so the number of transactions stays near messages / batch.
_PAGE = 50_000


async def _messages(ctx: HubContext, s: Subject) -> Counts:
    """Text and search tokens blanked, one conversation at a time.

    Each transaction bumps one conversation's change counter under its row lock (as a send
    does, so sync sees the deletions) and blanks at most `erasure_batch` of its messages:
    a send to that conversation waits for one short statement, and sends to the person's
    other conversations not at all. (A batch taken across conversations would hold every one
    of them at once: client ids are random, so a batch spans them all.)"""
    # Keyset order on the (sender_id, client_msg_id) unique index: each page starts where the
    # last ended, and only rows still to blank come back (a second sweep reads, writes nothing).
    total, after = 0, ""
    while True:
        async with ctx.db.system() as conn:
            # Not a month missed while it moves to the archive (hub/chat/partitions.py).
            await partitions.reading_archive(conn)
            page = await conn.fetch(
                """SELECT id, conversation_id, client_msg_id FROM messages
                   WHERE sender_id = $1 AND client_msg_id > $2
                     AND (content <> '' OR search_tokens IS NOT NULL)
                   ORDER BY client_msg_id LIMIT $3""",
                s.user_id,
                after,
                _PAGE,
            )
        if not page:
            return {"messages": total}
        after = page[-1]["client_msg_id"]
        by_conversation: dict[UUID, list[UUID]] = {}
        for r in page:
            by_conversation.setdefault(r["conversation_id"], []).append(r["id"])
        size = ctx.settings.erasure_batch
        for conversation, ids in by_conversation.items():
            for i in range(0, len(ids), size):
                total += await _blank(ctx, conversation, ids[i : i + size])


async def _blank(ctx: HubContext, conversation: UUID, ids: list[UUID]) -> int:
    async with ctx.db.system() as conn:
        await partitions.reading_archive(conn)  # the page's months stay attached meanwhile
        status = await conn.execute(
            """WITH bumped AS (
                   UPDATE conversations SET change_seq = change_seq + 1
                   WHERE id = $2 RETURNING change_seq)
               UPDATE messages m SET content = '', search_tokens = NULL,
                      deleted_at = coalesce(m.deleted_at, now()), change_seq = b.change_seq
               FROM bumped b WHERE m.id = ANY($1::uuid[]) AND m.conversation_id = $2""",
            ids,
            conversation,
        )
        file_keys = await releasing.retire_message_files(conn, ids)
    await releasing.release_keys(ctx, file_keys)
    return _n(status)


async def _files(ctx: HubContext, s: Subject) -> Counts:
    """Every upload of the person: marked deleted, name and transcript blanked, bytes let go
    unless another live record of the same content needs them."""
    async with ctx.db.system() as conn:
        parts = await conn.fetch(
            "DELETE FROM file_uploads WHERE user_id = $1 RETURNING id", s.user_id
        )
        files = await conn.fetch(
            """UPDATE files SET deleted_at = coalesce(deleted_at, now()), name = 'erased',
                      transcript = NULL
               WHERE uploader_id = $1
                 AND (deleted_at IS NULL OR name <> 'erased' OR transcript IS NOT NULL)
               RETURNING storage_key""",
            s.user_id,
        )
    for part in parts:
        remove(uploads.spool_dir(ctx) / "tus" / f"{part['id']}.part")
    released = await releasing.release_keys(ctx, [f["storage_key"] for f in files])
    return {"files": len(files), "file_uploads": len(parts), "stored_files": released}


async def _tutor(ctx: HubContext, s: Subject) -> Counts:
    async with ctx.db.system() as conn:
        answers = await conn.fetch(
            """UPDATE tutor_requests SET user_id = $2, refused_question = NULL,
                      conversation_id = NULL, question_message_id = NULL,
                      answer_message_id = NULL
               WHERE user_id = $1 RETURNING id""",
            s.user_id,
            s.pseudonym_id,
        )
        conversations = _n(
            await conn.execute(
                """DELETE FROM conversations WHERE id IN (
                       SELECT conversation_id FROM tutor_conversations WHERE student_id = $1)""",
                s.user_id,
            )
        )
    ns_keys = ctx.keys
    doomed = [ns_keys.tutor_in_flight(s.user_id)]
    for a in answers:
        doomed += [ns_keys.tutor_stream(a["id"]), ns_keys.tutor_cancel(a["id"])]
        doomed.append(ns_keys.tutor_lease(a["id"]))
    await ctx.redis.delete(*doomed)
    return {"tutor_requests": len(answers), "tutor_conversations": conversations}


async def _exams(ctx: HubContext, s: Subject) -> Counts:
    async with ctx.db.system() as conn:
        events = await conn.fetch(
            "DELETE FROM proctor_events WHERE student_id = $1 RETURNING attempt_id, exam_id",
            s.user_id,
        )
        actor = _n(
            await conn.execute(
                "UPDATE proctor_events SET actor_id = NULL WHERE actor_id = $1", s.user_id
            )
        )
        attempts = await conn.fetch(
            "UPDATE attempts SET student_id = $2 WHERE student_id = $1 RETURNING id, exam_id",
            s.user_id,
            s.pseudonym_id,
        )
        answers = _n(
            await conn.execute(
                "UPDATE answers SET student_id = $2 WHERE student_id = $1",
                s.user_id,
                s.pseudonym_id,
            )
        )
    for a in attempts:
        roster = ctx.keys.proctor_roster(a["exam_id"])
        await cast(Awaitable[int], ctx.redis.hdel(roster, str(a["id"]), f"{a['id']}:connects"))
        await ctx.redis.delete(ctx.keys.proctor_sockets(a["id"]))
    return {
        "proctor_events": len(events) + actor,
        "attempts": len(attempts),
        "answers": answers,
    }


async def _others(ctx: HubContext, s: Subject) -> Counts:
    """Other people's rows that name the person (notifications, reports, the audit log), then
    the family links and exports."""
    async with ctx.db.system() as conn:
        counts = await scrub.redact_everywhere(conn, s.user_id, s.email, s.name, ERASED_LABEL)
        # After the redaction, which reads the links to find the family's notifications.
        counts["parent_links"] = _n(
            await conn.execute(
                "DELETE FROM parent_links WHERE parent_id = $1 OR student_id = $1", s.user_id
            )
        )
        counts["data_exports"] = await _exports(ctx, conn, s.user_id)
    return counts


async def _exports(ctx: HubContext, conn: Connection, user_id: UUID) -> int:
    rows = await conn.fetch(
        """DELETE FROM data_exports WHERE subject_id = $1 OR requested_by = $1
           RETURNING storage_key""",
        user_id,
    )
    for r in rows:
        if r["storage_key"]:
            await ctx.storage.delete(r["storage_key"])
    return len(rows)


async def _redis(ctx: HubContext, s: Subject) -> Counts:
    k, uid = ctx.keys, str(s.user_id)
    doomed = [k.presence(uid), k.last_seen(uid)]
    doomed += [key async for key in ctx.redis.scan_iter(match=k.file_quota(uid, "*"))]
    removed = int(await ctx.redis.delete(*doomed))
    async for host_key in ctx.redis.scan_iter(match=k.host_users("*")):
        removed += int(await cast(Awaitable[int], ctx.redis.srem(host_key, uid)))
    return {"redis_keys": removed}


STEPS: list[tuple[str, Callable[[HubContext, Subject], Awaitable[Counts]]]] = [
    ("account", _close_account),
    ("messages", _messages),
    ("files", _files),
    ("tutor", _tutor),
    ("exams", _exams),
    ("others", _others),
    ("redis", _redis),
    # Again: a message whose send passed its membership check just before the account
    # closed may have committed since.
    ("messages", _messages),
]


async def _finish(ctx: HubContext, s: Subject) -> Counts:
    async with ctx.db.system() as conn:
        users = _n(
            await conn.execute(
                """UPDATE users SET email = 'erased-' || id || '@invalid', display_name = $2,
                          password_hash = '!', updated_at = now()
                   WHERE id = $1 AND email <> 'erased-' || id || '@invalid'""",
                s.user_id,
                ERASED_LABEL,
            )
        )
        row = await fetch_returning(
            conn,
            """UPDATE erasures SET status = 'done', finished_at = now(),
                      counts = counts || jsonb_build_object('users', $2::int)
               WHERE id = $1
               RETURNING counts, subject_hash, requested_by, requested_role""",
            s.erasure_id,
            users,
        )
        counts = cast(Counts, row["counts"])
        await audit.record(
            conn,
            "user.erase",
            actor_id=row["requested_by"],
            target_type="erasure",
            target_id=s.erasure_id,
            details={
                "subject_hash": row["subject_hash"],
                "requested_role": row["requested_role"],
                "counts": counts,
            },
        )
    return counts


def _n(status: str) -> int:
    """Rows of an asyncpg command status ('UPDATE 3', 'DELETE 0')."""
    return int(status.rsplit(" ", 1)[-1])
