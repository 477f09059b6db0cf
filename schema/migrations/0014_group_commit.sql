-- Group commit of chat messages (hub/chat/writes.py): the messages a hub process receives
-- within a millisecond or two are stored by one call of app_send_messages, in one
-- transaction with one WAL flush, instead of a transaction each.
--
-- One transaction then writes for several senders, so "one acting user per transaction" and
-- the row policies on conversations and messages cannot be the wall here: this function is.
-- It is SECURITY DEFINER and checks, row by row, what the single-message path's statement
-- (`_SEND_WRITE` under RLS) and its context query enforce:
--   * the sender is a current participant of the conversation (else 'refused', nothing
--     written: the RLS rule of messages and conversations, now per row, and stricter, since
--     the row's sender_id itself must be that participant);
--   * a (sender, client_msg_id) already stored is not stored again ('stored', with the stored
--     row's id, seq, created_at and conversation);
--   * anything that needs a rule kept in Python or a readable refusal -- a mute, an
--     observer, an announcement the sender may not post in (hub/chat/policy.py may_post), an exam in progress on either side, a reply_to
--     outside the conversation -- writes nothing and answers 'checks': the hub then runs the
--     message through the full single-message path, which refuses it with its own error or
--     stores it.
-- Content moderation and attachments are decided by the hub before a message is batched
-- (only clean text without files comes here).
--
-- One row never fails its neighbours: no row raises for a reason the rows carry (a unique
-- violation from a concurrent retry is ON CONFLICT DO NOTHING on message_keys, and the seq it
-- took is given back while the conversation row is still locked, so seqs stay gap-free).
-- message_keys and the partitioned messages come from 0009_partitions.sql. Anything else that
-- raises fails the whole call, and the hub retries its rows one by one.
--
-- Rows are written in conversation order, then arrival order: two batches of two hub
-- processes lock conversations in the same order and cannot deadlock, and within one
-- conversation the seqs follow the arrival order.
--
-- p_batch: a JSON array of {i, sender, conversation, client_msg_id, message_type, content,
-- reply_to, ack_required, urgent, tokens, now}; `i` is echoed back as idx.
CREATE FUNCTION app_send_messages(p_batch jsonb)
RETURNS TABLE (idx int, status text, id uuid, conversation_id uuid, seq bigint,
               change_seq bigint, sender_id uuid, client_msg_id text, message_type text,
               content text, reply_to uuid, ack_required boolean, created_at timestamptz,
               edited_at timestamptz, deleted_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
#variable_conflict use_column
DECLARE
    r record;
    f record;
    c record;
    m record;
    new_id uuid;
BEGIN
    FOR r IN
        SELECT (e->>'i')::int AS i, (e->>'sender')::uuid AS sender,
               (e->>'conversation')::uuid AS conv, e->>'client_msg_id' AS cmid,
               (e->>'message_type')::message_type AS mtype, e->>'content' AS body,
               (e->>'reply_to')::uuid AS reply, coalesce((e->>'ack_required')::boolean, false)
               AS ack, coalesce((e->>'urgent')::boolean, false) AS urgent,
               ARRAY(SELECT jsonb_array_elements_text(coalesce(e->'tokens', '[]'))) AS tokens,
               coalesce((e->>'now')::timestamptz, now()) AS at
        FROM jsonb_array_elements(p_batch) e
        ORDER BY (e->>'conversation')::uuid, (e->>'i')::int
    LOOP
        idx := r.i;
        id := NULL; conversation_id := NULL; seq := NULL; change_seq := NULL;
        sender_id := NULL; client_msg_id := NULL; message_type := NULL; content := NULL;
        reply_to := NULL; ack_required := NULL; created_at := NULL; edited_at := NULL;
        deleted_at := NULL;

        SELECT cv.kind, cv.org_id, p.role INTO f
        FROM conversations cv
        JOIN participants p ON p.conversation_id = cv.id AND p.user_id = r.sender
                           AND p.left_at IS NULL
        WHERE cv.id = r.conv;
        IF NOT FOUND THEN
            status := 'refused';
            RETURN NEXT;
            CONTINUE;
        END IF;

        SELECT k.message_id AS id, k.conversation_id, k.seq, k.created_at INTO m
        FROM message_keys k WHERE k.sender_id = r.sender AND k.client_msg_id = r.cmid;
        IF FOUND THEN
            status := 'stored';
            id := m.id; conversation_id := m.conversation_id; seq := m.seq;
            created_at := m.created_at;
            RETURN NEXT;
            CONTINUE;
        END IF;

        IF f.role = 'observer' OR (f.kind = 'announcement' AND f.role <> 'admin')
           OR EXISTS (SELECT 1 FROM member_mutes mm
                      WHERE mm.user_id = r.sender AND mm.org_id = f.org_id
                        AND mm.muted_until > r.at)
           OR EXISTS (SELECT 1 FROM attempts a
                      WHERE a.student_id = r.sender AND a.status = 'active'
                        AND (a.deadline_at IS NULL OR a.deadline_at > r.at))
           OR EXISTS (SELECT 1 FROM participants o
                      CROSS JOIN LATERAL (
                          SELECT 1 FROM attempts a
                          WHERE a.student_id = o.user_id AND a.status = 'active'
                            AND (a.deadline_at IS NULL OR a.deadline_at > r.at)
                          OFFSET 0) sat
                      WHERE o.conversation_id = r.conv AND o.user_id <> r.sender
                        AND o.left_at IS NULL)
           OR (r.reply IS NOT NULL AND NOT EXISTS (
                  SELECT 1 FROM messages rm WHERE rm.id = r.reply AND rm.conversation_id = r.conv))
        THEN
            status := 'checks';
            RETURN NEXT;
            CONTINUE;
        END IF;

        UPDATE conversations cv
        SET last_seq = cv.last_seq + 1, change_seq = cv.change_seq + 1, last_message_at = now()
        WHERE cv.id = r.conv
        RETURNING cv.last_seq, cv.change_seq, cv.zone_id, cv.org_id INTO c;

        -- The idempotency key first (message_keys, 0009_partitions.sql: the key's uniqueness
        -- lives there, whatever month the message goes to). ON CONFLICT waits for a
        -- concurrent transaction holding the same key and does nothing if it committed.
        new_id := gen_random_uuid();
        INSERT INTO message_keys AS k (sender_id, client_msg_id, conversation_id, message_id,
                                       seq, created_at)
        VALUES (r.sender, r.cmid, r.conv, new_id, c.last_seq, now())
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            -- A concurrent transaction stored this (sender, client_msg_id) first and has
            -- committed. Give the seq back: this transaction still holds the conversation's
            -- row lock, so nobody took a later one.
            UPDATE conversations cv
            SET last_seq = cv.last_seq - 1, change_seq = cv.change_seq - 1
            WHERE cv.id = r.conv;
            SELECT k.message_id AS id, k.conversation_id, k.seq, k.created_at INTO m
            FROM message_keys k WHERE k.sender_id = r.sender AND k.client_msg_id = r.cmid;
            status := 'stored';
            id := m.id; conversation_id := m.conversation_id; seq := m.seq;
            created_at := m.created_at;
            RETURN NEXT;
            CONTINUE;
        END IF;

        -- A month with no partition raises here (check_violation) and fails the whole call:
        -- the hub makes the month and calls again (hub/chat/writes.py).
        INSERT INTO messages AS ms (id, conversation_id, zone_id, org_id, seq, change_seq,
                                    sender_id, client_msg_id, message_type, content, reply_to,
                                    ack_required, search_tokens, urgent, created_at)
        VALUES (new_id, r.conv, c.zone_id, c.org_id, c.last_seq, c.change_seq, r.sender, r.cmid,
                r.mtype, r.body, r.reply, r.ack AND f.kind = 'announcement',
                array_to_tsvector(r.tokens),
                r.urgent AND (f.role = 'admin' OR EXISTS (
                    SELECT 1 FROM memberships ms2
                    WHERE ms2.user_id = r.sender AND ms2.org_id = f.org_id
                      AND ms2.role IN ('teacher', 'org_admin'))),
                now())
        RETURNING ms.id, ms.conversation_id, ms.seq, ms.change_seq, ms.sender_id,
                  ms.client_msg_id, ms.message_type::text AS message_type, ms.content,
                  ms.reply_to, ms.ack_required, ms.created_at, ms.edited_at, ms.deleted_at
        INTO m;

        UPDATE participants p SET last_read_seq = c.last_seq
        WHERE p.conversation_id = r.conv AND p.user_id = r.sender
          AND p.last_read_seq < c.last_seq;

        status := 'written';
        id := m.id; conversation_id := m.conversation_id; seq := m.seq;
        change_seq := m.change_seq; sender_id := m.sender_id; client_msg_id := m.client_msg_id;
        message_type := m.message_type; content := m.content; reply_to := m.reply_to;
        ack_required := m.ack_required; created_at := m.created_at; edited_at := m.edited_at;
        deleted_at := m.deleted_at;
        RETURN NEXT;
    END LOOP;
END
$$;
