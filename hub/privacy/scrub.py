"""Other people's rows that name an erased person: their notifications (a sender's name and
message excerpt), reports and admins' notes, the audit log and its archive.

Redaction replaces the person's e-mail and name wherever they appear; a notification about a
message the person sent loses its excerpt whatever name it shows (the person may have been
renamed since). A name shorter than two characters is not searched for: it would blank
unrelated text.

Only the rows that can name the person are read, through indexes, never the whole tables
(they grow with every message and sign-in): notifications of the people who shared a
conversation with the person or were linked to them as parent or child (every notification
that carries someone's name comes from a message, a link or a child's exam), and audit rows
the person acted in or that have no actor (a failed sign-in with their address before it was
an account). What others wrote about the person elsewhere is their own text, as messages are.
"""

from __future__ import annotations

import json
from uuid import UUID

from hub.db import Connection

DELETED_TEXT = "(삭제된 메시지)"


def _needles(email: str, name: str) -> list[str]:
    return [n for n in dict.fromkeys((email, name.strip())) if len(n) >= 2]


def _in_json(text: str) -> str:
    """How the text appears inside jsonb's text form (quotes and backslashes escaped)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


async def redact_everywhere(
    conn: Connection, user_id: UUID, email: str, name: str, label: str
) -> dict[str, int]:
    needles = _needles(email, name)
    near = await _near(conn, user_id)
    counts = {
        "notifications": await _notifications(conn, user_id, near, needles, label),
        "message_reports": await _reports(conn, user_id, needles, label),
    }
    for table in ("audit_log", "audit_archive"):
        counts[table] = await _audit(conn, table, user_id, needles, label)
    return counts


def _replaced(column: str, count: int) -> str:
    """replace(replace(column, $2, $1), $3, $1) ... for `count` needles (params from $2)."""
    expr = column
    for i in range(count):
        expr = f"replace({expr}, ${i + 2}, $1)"
    return expr


def _mentions(column: str, count: int) -> str:
    return " OR ".join(f"strpos({column}, ${i + 2}) > 0" for i in range(count)) or "false"


async def _near(conn: Connection, user_id: UUID) -> list[UUID]:
    """Who can hold a notification naming the person (see the module's docstring)."""
    # Two arms, one per partial index of participants (members now, members who left).
    near: list[UUID] = await conn.fetchval(
        """WITH theirs AS (
               SELECT conversation_id FROM participants WHERE user_id = $1 AND left_at IS NULL
               UNION SELECT conversation_id FROM participants
                     WHERE user_id = $1 AND left_at IS NOT NULL)
           SELECT coalesce(array_agg(DISTINCT who), '{}') FROM (
               SELECT p.user_id AS who FROM participants p JOIN theirs USING (conversation_id)
               UNION SELECT parent_id FROM parent_links WHERE student_id = $1
               UNION SELECT student_id FROM parent_links WHERE parent_id = $1) AS x
           WHERE who <> $1""",
        user_id,
    )
    return near


async def _notifications(
    conn: Connection, user_id: UUID, near: list[UUID], needles: list[str], label: str
) -> int:
    own = await conn.execute("DELETE FROM notifications WHERE user_id = $1", user_id)
    about = await conn.execute(
        """UPDATE notifications n SET title = replace(n.title, $4, $2),
                  body = $2 || ': ' || $3
           FROM messages m
           WHERE n.user_id = ANY($5::uuid[]) AND m.sender_id = $1
             AND n.data ? 'conversation_id' AND n.data ? 'seq'
             AND m.conversation_id = (n.data->>'conversation_id')::uuid
             AND m.seq = (n.data->>'seq')::bigint
             AND n.body <> $2 || ': ' || $3""",
        user_id,
        label,
        DELETED_TEXT,
        await conn.fetchval("SELECT display_name FROM users WHERE id = $1", user_id),
        near,
    )
    named = "UPDATE 0"
    if needles:
        count = len(needles)
        named = await conn.execute(
            f"""UPDATE notifications SET title = {_replaced("title", count)},
                       body = {_replaced("body", count)}
                WHERE user_id = ANY(${count + 2}::uuid[])
                  AND ({_mentions("title", count)} OR {_mentions("body", count)})""",  # noqa: S608
            label,
            *needles,
            near,
        )
    return sum(_n(s) for s in (own, about, named))


async def _reports(conn: Connection, user_id: UUID, needles: list[str], label: str) -> int:
    own = await conn.execute("DELETE FROM message_reports WHERE reporter_id = $1", user_id)
    named = "UPDATE 0"
    if needles:
        count = len(needles)
        named = await conn.execute(
            f"""UPDATE message_reports SET reason = {_replaced("reason", count)},
                       note = {_replaced("note", count)}
                WHERE {_mentions("reason", count)}
                   OR {_mentions("coalesce(note, '')", count)}""",  # noqa: S608
            label,
            *needles,
        )
    return _n(own) + _n(named)


async def _audit(
    conn: Connection, table: str, user_id: UUID, needles: list[str], label: str
) -> int:
    ips = await conn.execute(
        f"UPDATE {table} SET ip = NULL WHERE actor_id = $1 AND ip IS NOT NULL",  # noqa: S608
        user_id,
    )
    named = "UPDATE 0"
    if needles:
        escaped = [_in_json(n) for n in needles]
        count = len(escaped)
        # Two arms, one per partial index (rows with an actor, rows without).
        named = await conn.execute(
            f"""UPDATE {table} SET details = ({_replaced("details::text", count)})::jsonb
                WHERE id IN (SELECT id FROM {table} WHERE actor_id = ${count + 2}
                             UNION ALL SELECT id FROM {table} WHERE actor_id IS NULL)
                  AND ({_mentions("details::text", count)})""",  # noqa: S608
            _in_json(label),
            *escaped,
            user_id,
        )
    return _n(ips) + _n(named)


def _n(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])
