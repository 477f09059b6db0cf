-- AI tutor: one tutor conversation per student per organization, a record per question
-- (the answer's state while it streams, then its outcome), and read-only access for the
-- student's teachers and parents where the organization allows it.
--
-- The new conversation kind is added here but never used in this file: PostgreSQL refuses a
-- new enum value in the transaction that added it.
ALTER TYPE conversation_kind ADD VALUE IF NOT EXISTS 'tutor';

CREATE TABLE tutor_conversations (
    student_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id           uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    zone_id          uuid NOT NULL REFERENCES zones(id),
    conversation_id  uuid NOT NULL UNIQUE REFERENCES conversations(id) ON DELETE CASCADE,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (student_id, org_id)
);

CREATE TYPE tutor_outcome AS ENUM (
    'queued', 'streaming', 'done', 'cancelled', 'filtered', 'refused', 'error', 'interrupted');

-- One row per question: who asked, which model answered (and the one it fell back from),
-- tokens, time to first token and total time, and how it ended. A refused question keeps
-- its text and reason here (org admins read them); an answered one is a message.
CREATE TABLE tutor_requests (
    id                   uuid PRIMARY KEY,
    user_id              uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    zone_id              uuid NOT NULL REFERENCES zones(id),
    org_id               uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    conversation_id      uuid REFERENCES conversations(id) ON DELETE CASCADE,
    question_message_id  uuid REFERENCES messages(id) ON DELETE SET NULL,
    answer_message_id    uuid REFERENCES messages(id) ON DELETE SET NULL,
    client_msg_id        text NOT NULL,
    outcome              tutor_outcome NOT NULL,
    reason               text,
    refused_question     text,
    tier                 text,
    model                text,
    fallback_from        text,
    attempts             integer NOT NULL DEFAULT 0,
    prompt_tokens        integer,
    completion_tokens    integer,
    ttft_ms              integer,
    total_ms             integer,
    created_at           timestamptz NOT NULL DEFAULT now(),
    finished_at          timestamptz,
    UNIQUE (user_id, client_msg_id)
);
CREATE INDEX tutor_requests_org_day ON tutor_requests (org_id, created_at);
CREATE INDEX tutor_requests_open ON tutor_requests (created_at)
    WHERE outcome IN ('queued', 'streaming');

-- Tutor conversations a teacher (of a class the student is in), a linked parent or an admin
-- of the school may read, unless the school turned that off (settings.tutor.observers).
-- Driven from the caller's own classes, children and schools (index lookups), never from all
-- tutor conversations.
CREATE INDEX tutor_conversations_org ON tutor_conversations (org_id);
CREATE INDEX class_members_user ON class_members (user_id);

CREATE FUNCTION app_observed_tutor_conversations() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT t.conversation_id FROM tutor_conversations t
    JOIN organizations o ON o.id = t.org_id
    WHERE coalesce((o.settings->'tutor'->>'observers')::boolean, true)
      AND ((t.student_id, t.org_id) IN (
              SELECT s.user_id, s.org_id FROM class_members me
              JOIN class_members s ON s.class_id = me.class_id AND s.role = 'student'
              WHERE me.user_id = app_user_id() AND me.role = 'teacher'
              UNION ALL
              SELECT l.student_id, l.org_id FROM parent_links l
              WHERE l.parent_id = app_user_id() AND l.status = 'approved')
           OR t.org_id IN (SELECT m.org_id FROM memberships m
                           WHERE m.user_id = app_user_id() AND m.role = 'org_admin'))
$$;

ALTER TABLE tutor_conversations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tutor_conversations_read ON tutor_conversations FOR SELECT
    USING (student_id = (SELECT app_user_id())
           OR conversation_id IN (SELECT app_observed_tutor_conversations())
           OR (SELECT app_is_sys_admin()));
CREATE POLICY tutor_conversations_insert ON tutor_conversations FOR INSERT
    WITH CHECK (student_id = (SELECT app_user_id()) AND org_id IN (SELECT app_org_ids()));

-- Observers read a tutor conversation's messages through this function only, never through a
-- policy on messages: a policy there would run for every message query of every user (it
-- cost ~0.9 ms per history query, measured). They are not participants: they never post, and
-- the conversation stays out of their own list.
CREATE FUNCTION app_observed_tutor_messages(p_conversation uuid, p_before bigint, p_limit int)
RETURNS SETOF messages
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT m.* FROM messages m
    WHERE m.conversation_id = p_conversation
      AND (p_conversation IN (SELECT app_observed_tutor_conversations())
           OR p_conversation IN (SELECT app_conversation_ids()))
      AND (p_before IS NULL OR m.seq < p_before)
    ORDER BY m.seq DESC LIMIT p_limit
$$;

ALTER TABLE tutor_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY tutor_requests_read ON tutor_requests FOR SELECT
    USING (user_id = (SELECT app_user_id()) OR org_id IN (SELECT app_staff_org_ids())
           OR zone_id IN (SELECT app_admin_zone_ids()) OR (SELECT app_is_sys_admin()));
CREATE POLICY tutor_requests_own ON tutor_requests FOR INSERT
    WITH CHECK (user_id = (SELECT app_user_id()) AND org_id IN (SELECT app_org_ids()));
CREATE POLICY tutor_requests_update ON tutor_requests FOR UPDATE
    USING (user_id = (SELECT app_user_id()))
    WITH CHECK (user_id = (SELECT app_user_id()));
