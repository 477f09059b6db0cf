-- Messages partitioned by month of created_at (hub/chat/partitions.py), so that archiving a
-- month is moving one table, never deleting rows one by one.
--
-- What changes with partitioning, and why:
-- * The primary key is (id, created_at): a unique index must contain the partition key.
-- * (conversation_id, seq) is no longer a unique index (it could only be unique per month).
--   seq stays gap-free and unique because it is taken from the conversation row, under its
--   row lock, in the statement that inserts the message (hub/chat/messages.py).
-- * (sender_id, client_msg_id) is unique in `message_keys`, a small table of recent keys that
--   the send inserts into in the same statement: a retry landing in the next month finds its
--   key there. Keys older than the idempotency window are pruned (message_keys_prune).
-- * No foreign key points at messages any more. PostgreSQL refuses to DETACH a partition that
--   referencing rows point into, and archiving detaches. The cascades they gave (a message
--   deleted with its conversation takes its acks, reports and file links along; tutor records
--   lose the pointer) are kept by the trigger messages_after_delete.
-- * No foreign key goes out of messages either: detaching a partition gives its copy of each
--   one triggers on the referenced table (conversations, users, organizations, zones) and
--   attaching drops them, under locks that stop every send (the archive benchmark deadlocked
--   on conversations). Their cascades are triggers: a conversation's messages go with it
--   (conversations_messages_delete), an erased-for-good user leaves sender_id NULL
--   (users_messages_sender). Organizations reach messages through their conversations.
-- * There is no DEFAULT partition: DETACH ... CONCURRENTLY is refused on a table that has one.
--   A month without a partition is created on demand (app_message_partition) when an insert
--   finds none; the worker creates three months ahead so that this stays a rare path.

ALTER TABLE message_acks DROP CONSTRAINT message_acks_message_id_fkey;
ALTER TABLE message_reports DROP CONSTRAINT message_reports_message_id_fkey;
ALTER TABLE message_files DROP CONSTRAINT message_files_message_id_fkey;
ALTER TABLE tutor_requests DROP CONSTRAINT tutor_requests_question_message_id_fkey;
ALTER TABLE tutor_requests DROP CONSTRAINT tutor_requests_answer_message_id_fkey;
-- Its return type is the old table's row type; it is created again below.
DROP FUNCTION app_observed_tutor_messages(uuid, bigint, int);

ALTER TABLE messages RENAME TO messages_unpartitioned;
ALTER POLICY messages_members ON messages_unpartitioned RENAME TO messages_unpartitioned_members;
ALTER TABLE messages_unpartitioned RENAME CONSTRAINT messages_pkey TO messages_unpartitioned_pkey;
DROP INDEX messages_changes, messages_created, messages_search;

CREATE TABLE messages (
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    -- No foreign keys out of messages either (see above): conversation, zone and org come
    -- from the conversation row the send locks, the sender is the acting user.
    conversation_id  uuid NOT NULL,
    zone_id          uuid NOT NULL,
    org_id           uuid NOT NULL,
    seq              bigint NOT NULL,
    change_seq       bigint NOT NULL,
    sender_id        uuid,
    client_msg_id    text NOT NULL,
    message_type     message_type NOT NULL DEFAULT 'text',
    content          text NOT NULL,
    -- Checked by the send (same conversation); no foreign key, see above.
    reply_to         uuid,
    ack_required     boolean NOT NULL DEFAULT false,
    search_tokens    tsvector,
    created_at       timestamptz NOT NULL DEFAULT now(),
    edited_at        timestamptz,
    deleted_at       timestamptz,
    urgent           boolean NOT NULL DEFAULT false,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX messages_seq ON messages (conversation_id, seq);
CREATE INDEX messages_changes ON messages (conversation_id, change_seq);
CREATE INDEX messages_created ON messages (conversation_id, created_at);
CREATE INDEX messages_sender ON messages (sender_id, client_msg_id);
-- Search is always within the caller's conversations: one GIN over (conversation, tokens)
-- (btree_gin, a trusted contrib extension) finds a user's matches without visiting every
-- month's matches of everyone (at 2 million messages that was 0.4-6 s a search).
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX messages_search ON messages USING gin (conversation_id, search_tokens);

ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY messages_members ON messages FOR ALL
    USING (conversation_id IN (SELECT app_conversation_ids()))
    WITH CHECK (conversation_id IN (SELECT app_conversation_ids()));

-- The month of p_at as a partition of messages, created if missing. As the owner (SECURITY
-- DEFINER): the application role calls it when an insert found no partition. CREATE TABLE ...
-- PARTITION OF would lock messages exclusively (every send waits); a table made LIKE it,
-- with a CHECK proving its range, is attached under SHARE UPDATE EXCLUSIVE, which sends and
-- reads do not wait for.
CREATE FUNCTION app_message_partition(p_at timestamptz) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public SET timezone = 'UTC' AS $$
DECLARE
    m_start timestamptz := date_trunc('month', p_at);
    m_end   timestamptz := date_trunc('month', p_at) + interval '1 month';
    part    text := 'messages_p' || to_char(date_trunc('month', p_at), 'YYYY_MM');
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN part;
    END IF;
    -- Two creators at once (the job and a send): the second finds the first one's table.
    PERFORM pg_advisory_xact_lock(hashtext('app_message_partition'));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN part;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE messages INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                   'INCLUDING INDEXES INCLUDING STORAGE INCLUDING COMPRESSION)', part);
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (created_at >= %L AND created_at < %L)',
                   part, part || '_range', m_start, m_end);
    EXECUTE format('ALTER TABLE messages ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   part, m_start, m_end);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', part, part || '_range');
    RETURN part;
END
$$;

-- Every month the existing rows need, and the current one and three ahead.
SELECT app_message_partition(month)
FROM generate_series(
    date_trunc('month', least(now(), (SELECT min(created_at) FROM messages_unpartitioned))),
    now() + interval '3 months', interval '1 month') AS month;

INSERT INTO messages (id, conversation_id, zone_id, org_id, seq, change_seq, sender_id,
                      client_msg_id, message_type, content, reply_to, ack_required,
                      search_tokens, created_at, edited_at, deleted_at, urgent)
SELECT id, conversation_id, zone_id, org_id, seq, change_seq, sender_id, client_msg_id,
       message_type, content, reply_to, ack_required, search_tokens, created_at, edited_at,
       deleted_at, urgent
FROM messages_unpartitioned;

-- Idempotency keys: (sender, client_msg_id) stored once, whatever month the message is in.
-- A send inserts its key in the statement that inserts the message, so a concurrent retry
-- meets this primary key (a unique violation, as before partitioning). Kept for the window
-- in settings.message_key_days, then pruned; a retry after that window is a new message.
CREATE TABLE message_keys (
    sender_id        uuid NOT NULL,
    client_msg_id    text NOT NULL,
    conversation_id  uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    message_id       uuid NOT NULL,
    seq              bigint NOT NULL,
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (sender_id, client_msg_id)
);
CREATE INDEX message_keys_created ON message_keys (created_at);
INSERT INTO message_keys (sender_id, client_msg_id, conversation_id, message_id, seq, created_at)
SELECT sender_id, client_msg_id, conversation_id, id, seq, created_at
FROM messages_unpartitioned WHERE sender_id IS NOT NULL;

ALTER TABLE message_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY message_keys_own ON message_keys FOR ALL
    USING (sender_id = (SELECT app_user_id()))
    WITH CHECK (conversation_id IN (SELECT app_conversation_ids()));

-- 0010_lifecycle may have run before this file on an existing database: keep its index.
DO $$
BEGIN
    IF to_regclass('messages_deleted_text') IS NOT NULL THEN
        DROP INDEX messages_deleted_text;
        CREATE INDEX messages_deleted_text ON messages (deleted_at)
            WHERE deleted_at IS NOT NULL AND content <> '';
    END IF;
END
$$;

DROP TABLE messages_unpartitioned;

-- What the foreign keys' cascades did when a message row goes (with its conversation).
CREATE FUNCTION messages_after_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    DELETE FROM message_acks WHERE message_id = OLD.id;
    DELETE FROM message_reports WHERE message_id = OLD.id;
    DELETE FROM message_files WHERE message_id = OLD.id;
    UPDATE tutor_requests SET question_message_id = NULL WHERE question_message_id = OLD.id;
    UPDATE tutor_requests SET answer_message_id = NULL WHERE answer_message_id = OLD.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER messages_after_delete AFTER DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_after_delete();
-- What the foreign keys out of messages did on delete.
CREATE FUNCTION conversations_messages_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    DELETE FROM messages WHERE conversation_id = OLD.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER conversations_messages_delete AFTER DELETE ON conversations
    FOR EACH ROW EXECUTE FUNCTION conversations_messages_delete();
CREATE FUNCTION users_messages_sender() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    UPDATE messages SET sender_id = NULL WHERE sender_id = OLD.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER users_messages_sender AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_messages_sender();
CREATE INDEX tutor_requests_question ON tutor_requests (question_message_id);
CREATE INDEX tutor_requests_answer ON tutor_requests (answer_message_id);

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

-- One row per month moved to the archive (hub/chat/partitions.py): where it went, how many
-- rows, how long the move took. Months are still partitions of messages afterwards.
CREATE TABLE message_archives (
    partition    text PRIMARY KEY,
    month        date NOT NULL,
    tablespace   text NOT NULL,
    row_count    bigint NOT NULL,
    seconds      real NOT NULL,
    archived_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE message_archives ENABLE ROW LEVEL SECURITY;
CREATE POLICY message_archives_admins ON message_archives FOR SELECT
    USING ((SELECT app_is_sys_admin()));

-- Search as the owner, with the membership rule of messages_members written out: under row
-- level security PostgreSQL may not use an index for `@@` (the operator is not leakproof, so
-- it must run after the policy's filter), and every search read every row of every month.
CREATE FUNCTION app_search_messages(p_query tsquery, p_conversation uuid, p_before timestamptz,
                                    p_limit int)
RETURNS SETOF messages
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    -- One index probe per conversation of the caller (GIN takes `=`, not `= ANY`).
    SELECT m.* FROM unnest(ARRAY(SELECT app_conversation_ids())) AS mine(id)
    JOIN LATERAL (
        SELECT * FROM messages
        WHERE conversation_id = mine.id AND search_tokens @@ p_query AND deleted_at IS NULL
          AND (p_before IS NULL OR created_at < p_before)
        ORDER BY created_at DESC LIMIT p_limit
    ) m ON true
    WHERE p_conversation IS NULL OR mine.id = p_conversation
    ORDER BY m.created_at DESC LIMIT p_limit
$$;
