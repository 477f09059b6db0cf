"""What an export holds: one JSON document per kind of data the platform keeps about a person.

Each section is one query by the person's id, read as the system (the worker builds exports;
the request was authorised when it was made). Messages are those of every conversation the
person took part in, as they could read them (deleted ones without text).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from hub.db import Connection

Section = Callable[[Connection, UUID], Awaitable[list[dict[str, Any]]]]


def _query(sql: str) -> Section:
    async def read(conn: Connection, user_id: UUID) -> list[dict[str, Any]]:
        return [dict(r) for r in await conn.fetch(sql, user_id)]

    return read


SECTIONS: dict[str, Section] = {
    "profile": _query(
        """SELECT id, email, display_name, language, timezone, created_at, updated_at
           FROM users WHERE id = $1"""
    ),
    "memberships": _query(
        """SELECT m.org_id, o.name AS organization, m.role::text AS role, m.created_at
           FROM memberships m JOIN organizations o ON o.id = m.org_id
           WHERE m.user_id = $1 ORDER BY m.created_at"""
    ),
    "classes": _query(
        """SELECT c.id, c.name, cm.role FROM class_members cm JOIN classes c ON c.id = cm.class_id
           WHERE cm.user_id = $1"""
    ),
    "parent_links": _query(
        """SELECT id, org_id, parent_id, student_id, status::text AS status, requested_at,
                  answered_at
           FROM parent_links WHERE parent_id = $1 OR student_id = $1"""
    ),
    "conversations": _query(
        """SELECT c.id, c.kind::text AS kind, c.title, p.role::text AS role, p.joined_at,
                  p.left_at, p.last_read_seq
           FROM participants p JOIN conversations c ON c.id = p.conversation_id
           WHERE p.user_id = $1 ORDER BY p.joined_at"""
    ),
    "messages": _query(
        """SELECT m.conversation_id, m.seq, m.id, m.sender_id, m.sender_id = $1 AS mine,
                  m.message_type::text AS type,
                  CASE WHEN m.deleted_at IS NULL THEN m.content END AS content,
                  m.created_at, m.edited_at, m.deleted_at
           FROM participants p JOIN messages m ON m.conversation_id = p.conversation_id
           WHERE p.user_id = $1 ORDER BY m.conversation_id, m.seq"""
    ),
    "attachments": _query(
        """SELECT f.id, f.name, f.mime, f.kind::text AS kind, f.size, f.sha256,
                  f.state::text AS state, f.created_at, f.deleted_at,
                  f.transcript->>'text' AS transcript
           FROM files f WHERE f.uploader_id = $1 ORDER BY f.created_at"""
    ),
    "notifications": _query(
        """SELECT id, kind, title, body, data, created_at, read_at FROM notifications
           WHERE user_id = $1 ORDER BY created_at"""
    ),
    "consents": _query(
        """SELECT kind, version, granted, source, recorded_at, host(ip) AS ip, user_agent
           FROM consents WHERE user_id = $1 ORDER BY recorded_at"""
    ),
    "sessions": _query(
        """SELECT id, created_at, last_used_at, expires_at, revoked_at, host(ip) AS ip,
                  user_agent
           FROM sessions WHERE user_id = $1 ORDER BY created_at"""
    ),
    "devices": _query("SELECT platform, created_at, last_seen_at FROM devices WHERE user_id = $1"),
    "exam_attempts": _query(
        """SELECT a.id, a.exam_id, e.title AS exam, a.number, a.status::text AS status,
                  a.started_at, a.finished_at, a.score, a.max_score, a.theta, a.se,
                  coalesce((SELECT jsonb_agg(jsonb_build_object(
                      'position', n.position, 'item_id', n.item_id, 'choice', n.choice,
                      'correct', n.correct, 'answered_at', n.answered_at) ORDER BY n.position)
                    FROM answers n WHERE n.attempt_id = a.id), '[]'::jsonb) AS answers,
                  coalesce((SELECT jsonb_agg(jsonb_build_object(
                      'kind', p.kind, 'severity', p.severity, 'at', p.server_at,
                      'details', p.details) ORDER BY p.id)
                    FROM proctor_events p WHERE p.attempt_id = a.id), '[]'::jsonb)
                    AS proctor_events
           FROM attempts a JOIN exams e ON e.id = a.exam_id
           WHERE a.student_id = $1 ORDER BY a.started_at"""
    ),
    "tutor_questions": _query(
        """SELECT r.id, r.created_at, r.outcome::text AS outcome, r.reason, r.model,
                  coalesce(q.content, r.refused_question) AS question, a.content AS answer
           FROM tutor_requests r
           LEFT JOIN messages q ON q.id = r.question_message_id
           LEFT JOIN messages a ON a.id = r.answer_message_id
           WHERE r.user_id = $1 ORDER BY r.created_at"""
    ),
}
