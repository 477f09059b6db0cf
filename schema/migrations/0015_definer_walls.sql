-- The second wall, hardened after a review of the SECURITY DEFINER functions (issue 13 §4).
-- Each item closes a way around row-level security for a database role other than the hub's,
-- or for a hub code path that forgot a check; none changes what the hub's own queries do.

-- 1. Functions run as their owner: nobody but the app role (granted EXECUTE on every
--    function by schema/migrate.py after each run) may call them. PostgreSQL's default is
--    EXECUTE for PUBLIC, so any role able to connect could post as anyone through
--    app_send_messages or read answer keys through app_item_key.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- 2. A SECURITY DEFINER function whose search_path lacks pg_temp searches the caller's
--    temporary schema first: a temporary `participants` table would pass its membership
--    checks. pg_temp last, for every such function.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public' AND p.prosecdef
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = public, pg_temp', f);
    END LOOP;
END
$$;

-- 3. Answer keys: "no role set" meant the hub's system transactions, but is also true of
--    any other login role.
CREATE OR REPLACE FUNCTION app_item_key(p_item uuid) RETURNS smallint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT i.answer FROM items i
    WHERE i.id = p_item AND (
        -- The hub's system() transactions: its login role (the owner) with no role set. Not
        -- any other login role that never ran SET ROLE.
        (current_setting('role') = 'none' AND session_user = current_user)
        OR i.org_id IN (SELECT app_staff_org_ids())
        OR i.zone_id IN (SELECT app_admin_zone_ids())
        OR app_is_sys_admin()
        OR EXISTS (
            SELECT 1 FROM attempts a JOIN exams e ON e.id = a.exam_id
            WHERE a.student_id = app_user_id() AND a.status = 'active'
              AND (a.pending_item = i.id
                   OR EXISTS (
                       SELECT 1 FROM exam_items x
                       WHERE x.exam_id = e.id AND x.item_id = i.id
                         AND (e.mode = 'fixed'
                              OR (e.mode = 'cbt' AND x.position = a.answered))))))
$$;

-- 4. A participant row's tenant is its conversation's: a row naming a conversation of
--    another school under this school's ids would otherwise pass participants_add.
ALTER TABLE conversations ADD CONSTRAINT conversations_tenant UNIQUE (id, zone_id, org_id);
ALTER TABLE participants ADD CONSTRAINT participants_conversation_tenant
    FOREIGN KEY (conversation_id, zone_id, org_id)
    REFERENCES conversations (id, zone_id, org_id) ON DELETE CASCADE;

-- 5. Month partitions: row-level security on, no policy. Reached through `messages` they
--    obey its policies; addressed by name they showed the app role every school's rows.
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'messages'::regclass
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION app_message_partition(p_at timestamptz) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET timezone = 'UTC' AS $$
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
    -- A month is reached through messages, whose policies apply; on its own it shows nothing
    -- to the app role (migrate.py grants it every table, partitions included).
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', part);
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (created_at >= %L AND created_at < %L)',
                   part, part || '_range', m_start, m_end);
    EXECUTE format('ALTER TABLE messages ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   part, m_start, m_end);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', part, part || '_range');
    RETURN part;
END
$$;

-- 6. An idempotency key is the acting user's own.
DROP POLICY message_keys_own ON message_keys;
CREATE POLICY message_keys_own ON message_keys FOR ALL
    USING (sender_id = (SELECT app_user_id()))
    WITH CHECK (sender_id = (SELECT app_user_id())
                AND conversation_id IN (SELECT app_conversation_ids()));
