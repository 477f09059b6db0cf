"""What a student sitting an exam may not do: use the AI tutor, or exchange messages with
other students of the same exam, in either direction. Teachers, tutors, org admins and
parents remain reachable, and can reach them.

The rules are pure (`sits_same_exam`, `message_refusal`, `may_use_tutor`); the helpers below
them gather the facts in SQL and raise `EXAM_IN_PROGRESS`. The messenger and the tutor call
the helpers; nothing else decides.

An attempt counts while it is `active` and its deadline (if any) has not passed: once time is
up the student can no longer answer, whether or not the deadline job has closed it yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from asyncpg import Record

from hub.context import Actor, HubContext
from hub.db import Connection
from hub.errors import DomainError, ErrorCode
from schema.models.accounts import OrgRole


@dataclass(frozen=True)
class Peer:
    """One party to a conversation, seen from an exam another party is sitting: a recipient
    seen from the sender's exam, or the sender seen from a recipient's."""

    user_id: UUID
    exam_id: UUID
    exam_title: str
    # The roles the party holds in the exam's organization.
    roles: frozenset[OrgRole]
    # In the exam's class, or the exam is for every student of the organization.
    in_audience: bool


def sits_same_exam(peer: Peer) -> bool:
    """A student of the exam's audience: the exam is theirs too, whether or not begun."""
    return OrgRole.STUDENT in peer.roles and peer.in_audience


def message_refusal(peers: Iterable[Peer]) -> Peer | None:
    """The first party who sits the exam another party is sitting; None: the message may go."""
    return next((p for p in peers if sits_same_exam(p)), None)


def may_message_during_exam(peers: Iterable[Peer]) -> bool:
    return message_refusal(peers) is None


def may_use_tutor(active_attempts: int) -> bool:
    """No AI tutor while any attempt is in progress."""
    return active_attempts == 0


_SITTING = (
    "EXISTS (SELECT 1 FROM attempts WHERE student_id = $USER AND status = 'active' "
    "AND (deadline_at IS NULL OR deadline_at > coalesce($NOW::timestamptz, now())))"
)


def sitting_sql(user_param: int, now_param: int) -> str:
    """A boolean SQL expression over query parameters $user_param and $now_param: the user
    has an attempt in progress (partial index attempts_student_active). For a caller that
    folds the check into a query of its own."""
    return _SITTING.replace("$USER", f"${user_param:d}").replace("$NOW", f"${now_param:d}")


def peer_exams_sql(conversation_param: int, user_param: int, now_param: int) -> str:
    """An SQL expression over query parameters: the exams the other participants of the
    conversation are sitting (uuid[], NULL: none). Cheap enough for every message: see
    app_conversation_sitting_exams in the 0004 migration."""
    return (
        f"app_conversation_sitting_exams(${conversation_param:d}, ${user_param:d}, "
        f"${now_param:d}::timestamptz)"
    )


@dataclass(frozen=True)
class SendFacts:
    """Who in a conversation sits an exam now: the sender, and the exams the others sit."""

    sender_sitting: bool
    peer_exams: Sequence[UUID] = ()


_ACTIVE_EXAMS = """
    SELECT exam_id FROM attempts
    WHERE student_id = $1 AND status = 'active'
      AND (deadline_at IS NULL OR deadline_at > coalesce($2::timestamptz, now()))
    ORDER BY started_at"""

_SEND_FACTS = f"SELECT {sitting_sql(1, 3)} AS in_exam, {peer_exams_sql(2, 1, 3)} AS peer_exams"


# The Peer columns of the user $WHO, seen from exam `e`.
_SEEN_FROM_EXAM = """ARRAY(SELECT m.role::text FROM memberships m
                 WHERE m.user_id = $WHO AND m.org_id = e.org_id) AS roles,
           (e.class_id IS NULL OR EXISTS (
                SELECT 1 FROM class_members cm
                WHERE cm.class_id = e.class_id AND cm.user_id = $WHO)) AS in_audience"""


# Every (exam the sender sits, other participant) pair of the conversation. No rows when the
# sender sits no exam.
_RECIPIENTS = f"""
    SELECT p.user_id, e.id AS exam_id, e.title AS exam_title,
           {_SEEN_FROM_EXAM.replace("$WHO", "p.user_id")}
    FROM attempts a
    JOIN exams e ON e.id = a.exam_id
    JOIN participants p ON p.conversation_id = $2 AND p.user_id <> a.student_id
                       AND p.left_at IS NULL
    WHERE a.student_id = $1 AND a.status = 'active'
      AND (a.deadline_at IS NULL OR a.deadline_at > coalesce($3::timestamptz, now()))"""  # noqa: S608

# The sender, seen from each exam another participant sits (ids from `peer_exams_sql`). The
# sender reads the exam through RLS: one of another school is hidden, and is not theirs.
_SENDER = f"""
    SELECT $1::uuid AS user_id, e.id AS exam_id, e.title AS exam_title,
           {_SEEN_FROM_EXAM.replace("$WHO", "$1")}
    FROM exams e WHERE e.id = ANY($2::uuid[])"""  # noqa: S608


def _peers(rows: Iterable[Record]) -> list[Peer]:
    return [
        Peer(
            user_id=r["user_id"],
            exam_id=r["exam_id"],
            exam_title=r["exam_title"],
            roles=frozenset(OrgRole(role) for role in r["roles"]),
            in_audience=r["in_audience"],
        )
        for r in rows
    ]


async def active_exam_ids(
    conn: Connection, user_id: UUID, now: datetime | None = None
) -> list[UUID]:
    """The exams `user_id` is sitting now (by `now`, else the database's clock)."""
    return [r["exam_id"] for r in await conn.fetch(_ACTIVE_EXAMS, user_id, now)]


async def send_facts(
    conn: Connection, sender_id: UUID, conversation_id: UUID, now: datetime | None = None
) -> SendFacts:
    """One query: whether the sender, or another participant, sits an exam now."""
    row = await conn.fetchrow(_SEND_FACTS, sender_id, conversation_id, now)
    assert row is not None  # noqa: S101 - a SELECT without FROM gives one row
    return SendFacts(row["in_exam"], row["peer_exams"] or ())


async def ensure_may_send(
    conn: Connection,
    sender_id: UUID,
    conversation_id: UUID,
    now: datetime | None = None,
    facts: SendFacts | None = None,
) -> None:
    """Refuse a message (or an edit) between two students of an exam one of them is sitting.

    `facts` come from a caller that folded `sitting_sql` and `peer_exams_sql` into its own
    query; then nobody sitting an exam costs no query here. Without them, one query gathers
    them; either way one more decides when someone sits an exam.
    """
    if facts is None:
        facts = await send_facts(conn, sender_id, conversation_id, now)
    if facts.sender_sitting:
        rows = await conn.fetch(_RECIPIENTS, sender_id, conversation_id, now)
        refused = message_refusal(_peers(rows))
        if refused is not None:
            raise DomainError(
                ErrorCode.EXAM_IN_PROGRESS,
                f"You are sitting the exam '{refused.exam_title}': messages that reach other "
                "students of it wait until you hand it in (your teachers remain reachable)",
                exam_id=str(refused.exam_id),
            )
    if facts.peer_exams:
        rows = await conn.fetch(_SENDER, sender_id, list(facts.peer_exams))
        if message_refusal(_peers(rows)) is not None:
            # Neither who nor which exam: the sender learns only that the message must wait.
            raise DomainError(
                ErrorCode.EXAM_IN_PROGRESS,
                "A recipient of this message is sitting an exam: messages to them can go "
                "once it ends",
            )


async def ensure_may_use_tutor(
    conn: Connection, user_id: UUID, now: datetime | None = None
) -> None:
    """The AI tutor calls this before every question: refused while an attempt is in progress."""
    exams = await active_exam_ids(conn, user_id, now)
    if not may_use_tutor(len(exams)):
        raise DomainError(
            ErrorCode.EXAM_IN_PROGRESS,
            "The AI tutor is closed while you sit an exam: hand it in first",
            exam_id=str(exams[0]),
        )


# Typing indicators and read receipts obey the rule of messages: what may not be said between
# two students of an exam one of them is sitting may not be signalled either.


async def signals_allowed(
    conn: Connection, actor: Actor, conversation_id: UUID, ctx: HubContext
) -> bool:
    """False when a message from the actor to this conversation would be refused for an exam."""
    try:
        await ensure_may_send(conn, actor.user_id, conversation_id, ctx.clock())
    except DomainError as exc:
        if exc.code is ErrorCode.EXAM_IN_PROGRESS:
            return False
        raise
    return True


async def may_signal(ctx: HubContext, user_id: UUID, conversation_id: UUID) -> None:
    """Raise EXAM_IN_PROGRESS (as a message would) when the user may not signal this room."""
    async with ctx.db.acting(user_id) as conn:
        await ensure_may_send(conn, user_id, conversation_id, ctx.clock())
