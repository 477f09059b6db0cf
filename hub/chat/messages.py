"""Sending, editing, deleting, reading history and reporting messages.

A message is committed before anyone hears of it: the seq is taken from the conversation's
row in the same transaction as the insert (gap-free), and a retry with the same
client_msg_id returns the stored message instead of storing another.

Clean text without files is written through the process's group commit (hub/chat/writes.py,
`app_send_messages` in migration 0014), several senders to a transaction; everything else, and
whatever that function leaves to the Python rules, goes the single-message path below.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from typing import Any
from uuid import UUID

import asyncpg

from hub import metrics
from hub.accounts import audit
from hub.chat import attachments, partitions, policy, profanity, search, writes
from hub.chat.conversations import my_role
from hub.chat.rows import MESSAGE_COLUMNS, message_event
from hub.clock import wire_time
from hub.context import Actor, HubContext
from hub.db import Connection, fetch_returning
from hub.errors import DomainError, ErrorCode, forbidden, not_found
from hub.exams import policy as exam_policy
from hub.notify import enqueue
from hub.outages import as_unavailable
from schema.models.chat import HistoryQuery, SendMessage


async def send_message(ctx: HubContext, actor: Actor, body: SendMessage) -> dict[str, Any]:
    """Store and broadcast a message; return its ack {id, seq, created_at}.

    A retry of a message already stored gets its original ack even past the rate limit; with
    Redis down the message is still stored and acknowledged (recipients get it by `sync`)."""
    try:
        await _limit_rate(ctx, actor)
    except DomainError:
        async with ctx.db.acting(actor.user_id) as conn:
            earlier = await _stored(conn, actor.user_id, body)
        if earlier is None:
            raise
        return _same_conversation(earlier, body)
    event = await _write_batched(ctx, actor, body) if _batchable(body) else None
    if event is None:
        event = await _write_alone(ctx, actor, body)
    if "stored" in event:
        stored = event.get("ack")
        if stored is None:
            async with ctx.db.acting(actor.user_id) as conn:
                stored = await _stored(conn, actor.user_id, body)
        if stored is None:
            raise DomainError(ErrorCode.CONFLICT, "The message could not be stored; retry it")
        return _same_conversation(stored, body)
    metrics.MESSAGES.labels("sent").inc()
    try:
        await ctx.bus.to_conversation(body.conversation_id, "message.new", event)
        await enqueue.conversation_activity(ctx, body.conversation_id)
    except Exception as exc:
        # Stored is what the ack promises; live delivery and the push wait for the bus.
        if as_unavailable(exc, "socket") is None:
            raise
    return {"id": event["id"], "seq": event["seq"], "created_at": event["created_at"]}


def _batchable(body: SendMessage) -> bool:
    """Clean text without files goes through the group commit; the rest, alone."""
    return not body.attachment_ids and profanity.moderate(body.content).clean


async def _write_batched(ctx: HubContext, actor: Actor, body: SendMessage) -> dict[str, Any] | None:
    """Store through the process's group commit (hub/chat/writes.py); None: the message
    needs the full single-message path (a rule the batch function leaves to it)."""
    now = ctx.clock()
    written = await writes.of(ctx).write(
        writes.Draft(
            sender_id=actor.user_id,
            conversation_id=body.conversation_id,
            client_msg_id=body.client_msg_id,
            content=body.content,
            message_type=body.message_type,
            reply_to=body.reply_to,
            ack_required=body.ack_required,
            urgent=body.urgent,
            tokens=search.tokens(body.content),
            now=now,
        )
    )
    if written.outcome is writes.Outcome.WRITTEN:
        return message_event(written.row)
    if written.outcome is writes.Outcome.STORED:
        row = written.row
        ack = {k: row[k] for k in ("id", "seq", "created_at", "conversation_id")}
        return {"stored": True, "ack": ack}
    if written.outcome is writes.Outcome.REFUSED:
        raise not_found("Conversation")
    return None


async def _write_alone(ctx: HubContext, actor: Actor, body: SendMessage) -> dict[str, Any]:
    """The full single-message path: every rule in Python, one acting-user transaction."""
    try:
        return await _insert_once_more_if_no_month(ctx, actor, body)
    except asyncpg.UniqueViolationError:
        return {"stored": True}  # a concurrent retry of the same client_msg_id committed first


def _same_conversation(stored: dict[str, Any], body: SendMessage) -> dict[str, Any]:
    if stored["conversation_id"] != body.conversation_id:
        raise DomainError(
            ErrorCode.CONFLICT,
            "This client_msg_id was already used in another conversation",
            field="client_msg_id",
        )
    return {"id": stored["id"], "seq": stored["seq"], "created_at": stored["created_at"]}


async def _insert_once_more_if_no_month(
    ctx: HubContext, actor: Actor, body: SendMessage
) -> dict[str, Any]:
    """Hot path: two statements in one lean transaction (see `_SEND_CONTEXT`, `_SEND_WRITE`).
    Partitioning (0009): a month the worker has not made ahead is made now, and the send
    tried once more (hub/chat/partitions.py)."""
    for attempt in (1, 2):
        try:
            async with ctx.db.acting_lean(actor.user_id) as conn:
                return await _insert(conn, actor, body, ctx.clock(), ctx.settings.voice_max_s)
        except asyncpg.CheckViolationError as exc:
            if attempt == 2 or not partitions.is_missing_partition(exc):
                raise
            await partitions.create_on_demand(ctx)
    raise AssertionError("unreachable")


async def _limit_rate(ctx: HubContext, actor: Actor) -> None:
    decision = await ctx.message_limiter.hit(
        ctx.keys.rate_limit(f"msg:{actor.user_id}"), int(ctx.clock().timestamp() * 1000)
    )
    if not decision.allowed:
        metrics.RATE_LIMITED.labels("messages").inc()
        raise DomainError(
            ErrorCode.RATE_LIMITED,
            f"Too many messages: at most {ctx.message_limiter.limit} a second",
            retry_after=round(decision.retry_after_s, 3),
        )


async def _stored(conn: Connection, user_id: UUID, body: SendMessage) -> dict[str, Any] | None:
    # From message_keys (0009_partitions.sql): one primary-key lookup, whatever month the
    # message went to, instead of a probe of every month's partition.
    row = await conn.fetchrow(
        """SELECT message_id AS id, seq, created_at, conversation_id FROM message_keys
           WHERE sender_id = $1 AND client_msg_id = $2""",
        user_id,
        body.client_msg_id,
    )
    return None if row is None else dict(row)


# Everything the send rules need, in one round trip: the caller's role, whether this
# client_msg_id was already stored, where reply_to points, staff status, the school's
# profanity setting, and whether the sender sits an exam or another participant does (then
# one more query decides).
_SEND_CONTEXT = f"""
    SELECT c.kind::text AS kind, p.role::text AS role,
           {exam_policy.sitting_sql(1, 5)} AS in_exam,
           {exam_policy.peer_exams_sql(2, 1, 5)} AS peer_exams,
           EXISTS (SELECT 1 FROM message_keys
                   WHERE sender_id = $1 AND client_msg_id = $3) AS stored,
           (SELECT conversation_id FROM messages WHERE id = $4) AS reply_conversation,
           EXISTS (SELECT 1 FROM memberships WHERE user_id = $1 AND org_id = c.org_id
                   AND role IN ('teacher', 'org_admin')) AS staff,
           coalesce(o.settings->>'profanity', 'mask') AS profanity,
           (SELECT max(muted_until) FROM member_mutes WHERE user_id = $1 AND org_id = c.org_id
              AND muted_until > coalesce($5::timestamptz, now())) AS muted_until
    FROM conversations c
    JOIN participants p ON p.conversation_id = c.id AND p.user_id = $1 AND p.left_at IS NULL
    JOIN organizations o ON o.id = c.org_id
    WHERE c.id = $2"""  # noqa: S608 - a constant expression

# The write, in one statement: take the next seq (the row lock serialises senders, and a
# rollback gives the number back, so seqs stay gap-free), insert, and move the sender's
# own read watermark.
_SEND_WRITE = f"""
    WITH conv AS (
        UPDATE conversations
        SET last_seq = last_seq + 1, change_seq = change_seq + 1, last_message_at = now()
        WHERE id = $1 RETURNING last_seq, change_seq, zone_id, org_id
    ), msg AS (
        INSERT INTO messages (conversation_id, zone_id, org_id, seq, change_seq, sender_id,
                              client_msg_id, message_type, content, reply_to, ack_required,
                              search_tokens, urgent)
        SELECT $1, conv.zone_id, conv.org_id, conv.last_seq, conv.change_seq, $2, $3,
               $4::message_type, $5, $6, $7, array_to_tsvector($8::text[]), $9
        FROM conv
        RETURNING {MESSAGE_COLUMNS}
    ), msg_key AS (
        -- Partitioning (0009): the idempotency key's uniqueness lives in message_keys.
        INSERT INTO message_keys (sender_id, client_msg_id, conversation_id, message_id, seq,
                                  created_at)
        SELECT sender_id, client_msg_id, conversation_id, id, seq, created_at
        FROM msg WHERE sender_id IS NOT NULL
    ), watermark AS (
        UPDATE participants SET last_read_seq = (SELECT last_seq FROM conv)
        WHERE conversation_id = $1 AND user_id = $2
          AND last_read_seq < (SELECT last_seq FROM conv)
    )
    SELECT * FROM msg"""  # noqa: S608 - MESSAGE_COLUMNS is a constant


async def write_message(
    conn: Connection,
    conversation_id: UUID,
    sender_id: UUID | None,
    client_msg_id: str,
    content: str,
    *,
    message_type: str = "text",
    reply_to: UUID | None = None,
    ack_required: bool = False,
    search_text: str | None = None,
    urgent: bool = False,
) -> asyncpg.Record:
    """The one statement that stores a message (chat and the AI tutor alike): the next seq of
    its conversation, the row, and the sender's read watermark, in one round trip. The caller
    has checked who may write and holds the acting-user transaction. A writer who left (or
    was erased) since that check finds the conversation hidden by its row policy: refused."""
    row = await conn.fetchrow(
        _SEND_WRITE,
        conversation_id,
        sender_id,
        client_msg_id,
        message_type,
        content,
        reply_to,
        ack_required,
        search.tokens(content if search_text is None else search_text),
        urgent,
    )
    if row is None:
        raise forbidden("You are not a member of this conversation any more")
    return row


async def _insert(
    conn: Connection, actor: Actor, body: SendMessage, now: datetime, voice_max_s: int
) -> dict[str, Any]:
    """Store the message; {"stored": True} when this client_msg_id was stored before."""
    facts = await conn.fetchrow(
        _SEND_CONTEXT, actor.user_id, body.conversation_id, body.client_msg_id, body.reply_to, now
    )
    if facts is None:
        raise not_found("Conversation")
    if facts["stored"]:
        return {"stored": True}
    if facts["muted_until"] is not None:  # by the school's administrators (hub/chat/reports.py)
        raise DomainError(
            ErrorCode.MUTED,
            "The school's administrators muted you: you can send messages again later",
            muted_until=wire_time(facts["muted_until"]),
        )
    if not policy.may_post(facts["kind"], facts["role"]):
        raise forbidden("Only this announcement's admins may post in it")
    exam = exam_policy.SendFacts(facts["in_exam"], facts["peer_exams"] or ())
    await exam_policy.ensure_may_send(conn, actor.user_id, body.conversation_id, now, exam)
    if body.reply_to is not None and facts["reply_conversation"] != body.conversation_id:
        raise DomainError(
            ErrorCode.VALIDATION, "reply_to is not a message of this conversation", field="reply_to"
        )
    content = _apply_moderation(body.content, facts["profanity"])
    # Messages with files: one more query to check them before the write, one to link them.
    files = None
    if body.attachment_ids:
        files = await attachments.check(
            conn, body.conversation_id, body.attachment_ids, body.message_type, voice_max_s
        )
    row = await write_message(
        conn,
        body.conversation_id,
        actor.user_id,
        body.client_msg_id,
        content,
        message_type=body.message_type,
        reply_to=body.reply_to,
        ack_required=body.ack_required and facts["kind"] == "announcement",
        search_text=attachments.searchable(content, files),
        urgent=body.urgent and (facts["role"] == "admin" or facts["staff"]),
    )
    event = message_event(row)
    if files is not None:
        event["attachments"] = await attachments.attach(conn, row, files)
    return event


async def _moderate(conn: Connection, conversation_id: UUID, content: str) -> str:
    """Mask or refuse profanity, as the organization chose (mask by default)."""
    result = profanity.moderate(content)
    if result.clean:
        return content
    mode = await conn.fetchval(
        """SELECT coalesce(o.settings->>'profanity', 'mask') FROM organizations o
           JOIN conversations c ON c.org_id = o.id WHERE c.id = $1""",
        conversation_id,
    )
    return _apply_moderation(content, mode, result)


def _apply_moderation(content: str, mode: str, result: profanity.Moderation | None = None) -> str:
    """The text to store under the school's setting; the filter runs once per message."""
    result = result or profanity.moderate(content)
    if result.clean:
        return content
    metrics.MESSAGES.labels(f"profanity_{mode}").inc()
    if mode == "refuse":
        raise DomainError(
            ErrorCode.VALIDATION,
            "The message contains language this school does not allow",
            field="content",
        )
    return content if mode == "off" else result.text


async def edit_message(
    ctx: HubContext, actor: Actor, message_id: UUID, content: str
) -> dict[str, Any]:
    """The sender edits their message; it takes a new place in the change order."""
    async with ctx.db.acting(actor.user_id) as conn:
        msg = await _message_for_update(conn, message_id)
        if msg["sender_id"] != actor.user_id:
            raise forbidden("Only the sender may edit a message")
        if msg["deleted_at"] is not None:
            raise DomainError(ErrorCode.CONFLICT, "A deleted message cannot be edited")
        await my_role(conn, actor.user_id, msg["conversation_id"])
        await exam_policy.ensure_may_send(conn, actor.user_id, msg["conversation_id"], ctx.clock())
        content = await _moderate(conn, msg["conversation_id"], content)
        change = await _next_change(conn, msg["conversation_id"])
        row = await fetch_returning(
            conn,
            f"""UPDATE messages SET content = $2, edited_at = now(), change_seq = $3,
                       search_tokens = array_to_tsvector($4::text[])
                WHERE id = $1 RETURNING {MESSAGE_COLUMNS}""",  # noqa: S608
            message_id,
            content,
            change,
            search.tokens(content),
        )
    event = message_event(row)
    await ctx.bus.to_conversation(msg["conversation_id"], "message.updated", event)
    return event


async def delete_message(ctx: HubContext, actor: Actor, message_id: UUID) -> dict[str, Any]:
    """The sender or a conversation admin deletes a message: its seq stays, its content goes."""
    async with ctx.db.acting(actor.user_id) as conn:
        msg = await _message_for_update(conn, message_id)
        _, role = await my_role(conn, actor.user_id, msg["conversation_id"])
        if msg["sender_id"] != actor.user_id and role != "admin":
            raise forbidden("Only the sender or a conversation admin may delete a message")
        if msg["deleted_at"] is not None:
            raise DomainError(ErrorCode.CONFLICT, "This message is already deleted")
        change = await _next_change(conn, msg["conversation_id"])
        row = await fetch_returning(
            conn,
            f"""UPDATE messages SET deleted_at = now(), change_seq = $2, search_tokens = NULL
                WHERE id = $1 RETURNING {MESSAGE_COLUMNS}""",  # noqa: S608
            message_id,
            change,
        )
        if role == "admin" and msg["sender_id"] != actor.user_id:
            await audit.record(
                conn,
                "message.delete_by_admin",
                actor_id=actor.user_id,
                target_type="message",
                target_id=message_id,
                zone_id=msg["zone_id"],
                org_id=msg["org_id"],
            )
    event = message_event(row)
    if row["message_type"] != "text":
        await attachments.after_delete(ctx, [message_id])
    await ctx.bus.to_conversation(
        msg["conversation_id"],
        "message.deleted",
        {k: event[k] for k in ("id", "conversation_id", "seq", "change_seq", "deleted_at")},
    )
    return event


async def _message_for_update(conn: Connection, message_id: UUID) -> Any:
    await partitions.reading_archive(conn)  # an archived message can be edited or deleted
    row = await conn.fetchrow(
        """SELECT id, conversation_id, sender_id, deleted_at, zone_id, org_id
           FROM messages WHERE id = $1 FOR UPDATE""",
        message_id,
    )
    if row is None:
        raise not_found("Message")
    return row


async def _next_change(conn: Connection, conversation_id: UUID) -> int:
    change: int = await conn.fetchval(
        "UPDATE conversations SET change_seq = change_seq + 1 WHERE id = $1 RETURNING change_seq",
        conversation_id,
    )
    return change


_HISTORY = f"""
    SELECT {MESSAGE_COLUMNS} FROM messages
    WHERE conversation_id = $1
      AND ($2::bigint IS NULL OR seq < $2) AND ($3::bigint IS NULL OR seq > $3)
      AND ($4::timestamptz IS NULL OR created_at >= $4)
      AND ($5::timestamptz IS NULL OR created_at < $5)
      AND created_at >= $7
    ORDER BY seq {{order}} LIMIT $6"""  # noqa: S608 - MESSAGE_COLUMNS is a constant


async def history(
    ctx: HubContext, actor: Actor, conversation_id: UUID, q: HistoryQuery
) -> tuple[list[dict[str, Any]], bool]:
    """A page of messages in seq order. `after` pages forward; otherwise backward from `before`.

    Partitioning (0009): first from the hot months only (`partitions.hot_since`); a page that
    is not provably complete there (seqs are gap-free, so a hole or a short page that does
    not reach seq 1 or the last seq shows it) is read again over every month."""
    forward = q.after is not None and q.before is None
    sql = _HISTORY.format(order="ASC" if forward else "DESC")
    hot = partitions.hot_since(ctx.clock(), ctx.settings)
    args = (conversation_id, q.before, q.after, q.since, q.until, q.limit + 1)
    async with ctx.db.acting(actor.user_id) as conn:
        last_seq = await conn.fetchval(
            """SELECT c.last_seq FROM conversations c
               JOIN participants p ON p.conversation_id = c.id AND p.user_id = $1
               WHERE c.id = $2 AND p.left_at IS NULL""",
            actor.user_id,
            conversation_id,
        )
        if last_seq is None:
            raise not_found("Conversation")
        rows, has_more = None, False
        if q.until is None or q.until > hot:
            rows = await conn.fetch(sql, *args, hot)
            if q.since is not None and q.since >= hot:  # the query itself stays in hot months
                rows, has_more = rows[: q.limit], len(rows) > q.limit
            else:
                rows, has_more = _hot_page(rows, q, forward, last_seq)
        if rows is not None:
            page = await attachments.add_to(conn, [dict(r) for r in rows])
    if rows is None:  # older months: a new transaction that waits for a move to the archive
        async with ctx.db.acting(actor.user_id) as conn:
            await partitions.reading_archive(conn)
            rows = await conn.fetch(sql, *args, datetime.min.replace(tzinfo=UTC))
            page = await attachments.add_to(conn, [dict(r) for r in rows[: q.limit]])
            has_more = len(rows) > q.limit
    return (page if forward else page[::-1]), has_more


def _hot_page(
    rows: list[Any], q: HistoryQuery, forward: bool, last_seq: int
) -> tuple[list[Any] | None, bool]:
    """(page, has_more) when what the hot months gave is the page over every month, else
    (None, False). Seqs are gap-free: the page must run from `first` towards `end` with no
    hole, and be full or reach `end`; then whether more exist follows from the numbers."""
    if q.since is not None or q.until is not None:
        return None, False
    if forward:
        assert q.after is not None  # noqa: S101 - forward means `after`
        first, end, step = q.after + 1, last_seq, 1
    else:
        first = last_seq if q.before is None else min(q.before - 1, last_seq)
        end, step = (1 if q.after is None else q.after + 1), -1
    if (first - end) * step > 0:  # nothing to read
        return ([], False) if not rows else (None, False)
    seqs = [r["seq"] for r in rows[: q.limit]]
    if not seqs or seqs[0] != first or any(b - a != step for a, b in pairwise(seqs)):
        return None, False
    if len(seqs) < q.limit and seqs[-1] != end:
        return None, False
    return rows[: q.limit], seqs[-1] != end


async def report_message(
    ctx: HubContext, actor: Actor, message_id: UUID, reason: str
) -> dict[str, Any]:
    """A participant reports a message to the organization's administrators."""
    async with ctx.db.acting(actor.user_id) as conn:
        msg = await conn.fetchrow(
            "SELECT id, zone_id, org_id FROM messages WHERE id = $1", message_id
        )
        if msg is None:
            raise not_found("Message")
        try:
            async with conn.transaction():
                report_id = await conn.fetchval(
                    """INSERT INTO message_reports
                           (message_id, reporter_id, zone_id, org_id, reason)
                       VALUES ($1, $2, $3, $4, $5) RETURNING id""",
                    message_id,
                    actor.user_id,
                    msg["zone_id"],
                    msg["org_id"],
                    reason,
                )
        except asyncpg.UniqueViolationError:
            raise DomainError(ErrorCode.CONFLICT, "You already reported this message") from None
        await audit.record(
            conn,
            "message.report",
            actor_id=actor.user_id,
            target_type="message",
            target_id=message_id,
            zone_id=msg["zone_id"],
            org_id=msg["org_id"],
            details={"report_id": report_id},
        )
    return {"id": report_id, "message_id": message_id, "reason": reason, "created_at": ctx.clock()}
