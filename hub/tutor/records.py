"""The tutor's rows: the student's tutor conversation, messages in it, and the record of each
question (its state while it streams, then its outcome, model, tokens and timings)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from hub.chat.messages import write_message
from hub.chat.rows import message_event
from hub.db import Connection


class Outcome(StrEnum):
    QUEUED = "queued"
    STREAMING = "streaming"
    DONE = "done"
    CANCELLED = "cancelled"
    FILTERED = "filtered"
    REFUSED = "refused"
    ERROR = "error"
    INTERRUPTED = "interrupted"


OPEN = (Outcome.QUEUED, Outcome.STREAMING)


@dataclass(frozen=True)
class Request:
    id: UUID
    user_id: UUID
    org_id: UUID
    conversation_id: UUID | None
    question_message_id: UUID | None
    answer_message_id: UUID | None
    client_msg_id: str
    outcome: Outcome
    tier: str | None
    model: str | None


_REQUEST_COLUMNS = """id, user_id, org_id, conversation_id, question_message_id,
    answer_message_id, client_msg_id, outcome::text AS outcome, tier, model"""


def _request(row: Any) -> Request:
    return Request(**{**dict(row), "outcome": Outcome(row["outcome"])})


async def request_by_id(conn: Connection, answer_id: UUID) -> Request | None:
    row = await conn.fetchrow(
        f"SELECT {_REQUEST_COLUMNS} FROM tutor_requests WHERE id = $1",  # noqa: S608
        answer_id,
    )
    return _request(row) if row else None


async def request_by_client_id(
    conn: Connection, user_id: UUID, client_msg_id: str
) -> Request | None:
    row = await conn.fetchrow(
        f"""SELECT {_REQUEST_COLUMNS} FROM tutor_requests
            WHERE user_id = $1 AND client_msg_id = $2""",  # noqa: S608
        user_id,
        client_msg_id,
    )
    return _request(row) if row else None


async def tutor_conversation(
    conn: Connection, student_id: UUID, org_id: UUID, zone_id: UUID
) -> tuple[UUID, bool]:
    """The student's tutor conversation in the organization, created on first use."""
    found = await conn.fetchval(
        "SELECT conversation_id FROM tutor_conversations WHERE student_id = $1 AND org_id = $2",
        student_id,
        org_id,
    )
    if found is not None:
        return found, False
    conversation_id = uuid.uuid4()
    await conn.execute(
        """INSERT INTO conversations (id, zone_id, org_id, kind, title, created_by)
           VALUES ($1, $2, $3, 'tutor', 'AI 튜터', $4)""",
        conversation_id,
        zone_id,
        org_id,
        student_id,
    )
    await conn.execute(
        """INSERT INTO participants (conversation_id, user_id, zone_id, org_id, role)
           VALUES ($1, $2, $3, $4, 'member')""",
        conversation_id,
        student_id,
        zone_id,
        org_id,
    )
    inserted = await conn.fetchval(
        """INSERT INTO tutor_conversations (student_id, org_id, zone_id, conversation_id)
           VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING conversation_id""",
        student_id,
        org_id,
        zone_id,
        conversation_id,
    )
    if inserted is None:
        # A concurrent first question made one: use it (this transaction's rows roll back
        # with the caller's retry).
        raise ConcurrentCreationError
    return conversation_id, True


class ConcurrentCreationError(Exception):
    """Another transaction created the student's tutor conversation first."""


async def insert_message(
    conn: Connection,
    conversation_id: UUID,
    sender_id: UUID | None,
    client_msg_id: str,
    content: str,
) -> dict[str, Any]:
    """Store a message of the tutor conversation; the answer's sender is None (the tutor)."""
    row = await write_message(conn, conversation_id, sender_id, client_msg_id, content)
    return message_event(row)


async def insert_request(
    conn: Connection,
    *,
    answer_id: UUID,
    user_id: UUID,
    zone_id: UUID,
    org_id: UUID,
    client_msg_id: str,
    outcome: Outcome,
    conversation_id: UUID | None = None,
    question_message_id: UUID | None = None,
    tier: str | None = None,
    reason: str | None = None,
    refused_question: str | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO tutor_requests (id, user_id, zone_id, org_id, client_msg_id, outcome,
               conversation_id, question_message_id, tier, reason, refused_question,
               finished_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                   CASE WHEN $6::tutor_outcome IN ('queued', 'streaming') THEN NULL
                        ELSE now() END)""",
        answer_id,
        user_id,
        zone_id,
        org_id,
        client_msg_id,
        outcome,
        conversation_id,
        question_message_id,
        tier,
        reason,
        refused_question,
    )


async def mark_streaming(conn: Connection, answer_id: UUID) -> bool:
    """queued -> streaming; False when the answer is no longer queued."""
    return (
        await conn.fetchval(
            """UPDATE tutor_requests SET outcome = 'streaming'
               WHERE id = $1 AND outcome = 'queued' RETURNING true""",
            answer_id,
        )
        is not None
    )


@dataclass(frozen=True)
class Ending:
    outcome: Outcome
    reason: str | None = None
    model: str | None = None
    fallback_from: str | None = None
    attempts: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_ms: int | None = None
    total_ms: int | None = None


async def close_request(conn: Connection, answer_id: UUID, ending: Ending) -> Request | None:
    """Write the outcome once: None when someone else (a sweep, a re-run) already did. The row
    lock makes concurrent finishers take turns."""
    row = await conn.fetchrow(
        f"""UPDATE tutor_requests SET outcome = $2, reason = $3, model = coalesce($4, model),
                   fallback_from = $5, attempts = $6, prompt_tokens = $7,
                   completion_tokens = $8, ttft_ms = $9, total_ms = $10, finished_at = now()
            WHERE id = $1 AND outcome IN ('queued', 'streaming')
            RETURNING {_REQUEST_COLUMNS}""",  # noqa: S608
        answer_id,
        ending.outcome,
        ending.reason,
        ending.model,
        ending.fallback_from,
        ending.attempts,
        ending.prompt_tokens,
        ending.completion_tokens,
        ending.ttft_ms,
        ending.total_ms,
    )
    return _request(row) if row else None


async def link_answer(conn: Connection, answer_id: UUID, message_id: UUID) -> None:
    await conn.execute(
        "UPDATE tutor_requests SET answer_message_id = $2 WHERE id = $1", answer_id, message_id
    )


async def recent_turns(
    conn: Connection, conversation_id: UUID, student_id: UUID, before_seq: int, limit: int = 20
) -> list[tuple[str, str]]:
    """(role, content) of the last messages before `before_seq`, oldest first."""
    rows = await conn.fetch(
        """SELECT sender_id, content FROM messages
           WHERE conversation_id = $1 AND seq < $2 AND deleted_at IS NULL
             -- Only the tutor's answers and questions that passed the filters, unedited: a
             -- note posted or edited into the conversation must not smuggle instructions in.
             AND (sender_id IS NULL OR (edited_at IS NULL AND id IN (
                  SELECT question_message_id FROM tutor_requests WHERE conversation_id = $1)))
           ORDER BY seq DESC LIMIT $3""",
        conversation_id,
        before_seq,
        limit,
    )
    return [
        ("user" if r["sender_id"] == student_id else "assistant", r["content"])
        for r in reversed(rows)
    ]
