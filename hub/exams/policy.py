"""What a student sitting an exam may not do: use the AI tutor, or message other students of
the same exam. Teachers, tutors, org admins and parents remain reachable.

The rules are pure (`sits_same_exam`, `message_refusal`, `may_use_tutor`); the helpers below
them gather the facts in SQL and raise `EXAM_IN_PROGRESS`. The messenger and the tutor call
the helpers; nothing else decides.

An attempt counts while it is `active` and its deadline (if any) has not passed: once time is
up the student can no longer answer, whether or not the deadline job has closed it yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from hub.db import Connection
from hub.errors import DomainError, ErrorCode
from schema.models.accounts import OrgRole


@dataclass(frozen=True)
class Peer:
    """Another participant of a conversation, seen from one exam the sender is sitting."""

    user_id: UUID
    exam_id: UUID
    exam_title: str
    # The roles the peer holds in the exam's organization.
    roles: frozenset[OrgRole]
    # In the exam's class, or the exam is for every student of the organization.
    in_audience: bool


def sits_same_exam(peer: Peer) -> bool:
    """A student of the exam's audience: the exam is theirs too, whether or not begun."""
    return OrgRole.STUDENT in peer.roles and peer.in_audience


def message_refusal(peers: Iterable[Peer]) -> Peer | None:
    """The first peer the message would reach who sits the same exam; None: it may go."""
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


_ACTIVE_EXAMS = """
    SELECT exam_id FROM attempts
    WHERE student_id = $1 AND status = 'active'
      AND (deadline_at IS NULL OR deadline_at > coalesce($2::timestamptz, now()))
    ORDER BY started_at"""

# Every (exam in progress, other participant) pair of the conversation, with the facts the
# rule needs. No rows when the sender sits no exam.
_PEERS = """
    SELECT p.user_id, e.id AS exam_id, e.title AS exam_title,
           ARRAY(SELECT m.role::text FROM memberships m
                 WHERE m.user_id = p.user_id AND m.org_id = e.org_id) AS roles,
           (e.class_id IS NULL OR EXISTS (
                SELECT 1 FROM class_members cm
                WHERE cm.class_id = e.class_id AND cm.user_id = p.user_id)) AS in_audience
    FROM attempts a
    JOIN exams e ON e.id = a.exam_id
    JOIN participants p ON p.conversation_id = $2 AND p.user_id <> a.student_id
                       AND p.left_at IS NULL
    WHERE a.student_id = $1 AND a.status = 'active'
      AND (a.deadline_at IS NULL OR a.deadline_at > coalesce($3::timestamptz, now()))"""


async def active_exam_ids(
    conn: Connection, user_id: UUID, now: datetime | None = None
) -> list[UUID]:
    """The exams `user_id` is sitting now (by `now`, else the database's clock)."""
    return [r["exam_id"] for r in await conn.fetch(_ACTIVE_EXAMS, user_id, now)]


async def ensure_may_send(
    conn: Connection, sender_id: UUID, conversation_id: UUID, now: datetime | None = None
) -> None:
    """Refuse a message (or an edit) that would reach another student of an exam the sender
    is sitting. One query; the messenger calls it only when the sender sits an exam."""
    peers = [
        Peer(
            user_id=r["user_id"],
            exam_id=r["exam_id"],
            exam_title=r["exam_title"],
            roles=frozenset(OrgRole(role) for role in r["roles"]),
            in_audience=r["in_audience"],
        )
        for r in await conn.fetch(_PEERS, sender_id, conversation_id, now)
    ]
    refused = message_refusal(peers)
    if refused is not None:
        raise DomainError(
            ErrorCode.EXAM_IN_PROGRESS,
            f"You are sitting the exam '{refused.exam_title}': messages that reach other "
            "students of it wait until you hand it in (your teachers remain reachable)",
            exam_id=str(refused.exam_id),
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
