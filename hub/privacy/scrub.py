"""Other people's rows that name an erased person: their notifications (a sender's name and
message excerpt), reports and admins' notes, the audit log and its archive.

Redaction replaces the person's e-mail and name wherever they appear; a notification about a
message the person sent loses its excerpt whatever name it shows (the person may have been
renamed since). A name shorter than two characters is not searched for: it would blank
unrelated text.
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
    counts = {
        "notifications": await _notifications(conn, user_id, needles, label),
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


async def _notifications(conn: Connection, user_id: UUID, needles: list[str], label: str) -> int:
    own = await conn.execute("DELETE FROM notifications WHERE user_id = $1", user_id)
    about = await conn.execute(
        """UPDATE notifications n SET title = replace(n.title, u.display_name, $2),
                  body = $2 || ': ' || $3
           FROM messages m JOIN users u ON u.id = m.sender_id
           WHERE m.sender_id = $1
             AND n.data ? 'conversation_id' AND n.data ? 'seq'
             AND m.conversation_id = (n.data->>'conversation_id')::uuid
             AND m.seq = (n.data->>'seq')::bigint
             AND n.body <> $2 || ': ' || $3""",
        user_id,
        label,
        DELETED_TEXT,
    )
    named = "UPDATE 0"
    if needles:
        count = len(needles)
        named = await conn.execute(
            f"""UPDATE notifications SET title = {_replaced("title", count)},
                       body = {_replaced("body", count)}
                WHERE {_mentions("title", count)} OR {_mentions("body", count)}""",  # noqa: S608
            label,
            *needles,
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
        named = await conn.execute(
            f"""UPDATE {table} SET details = ({_replaced("details::text", count)})::jsonb
                WHERE {_mentions("details::text", count)}""",  # noqa: S608
            _in_json(label),
            *escaped,
        )
    return _n(ips) + _n(named)


def _n(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])
