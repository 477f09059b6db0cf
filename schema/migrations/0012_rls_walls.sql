-- Row-level security as a real second wall where it was only a tenant check (issue 13 §4).
--
-- Participants: the old policy let any member of the organization write any participant row
-- of it, so a code path that forgot a check could let a pupil join any class conversation,
-- make themselves its admin, or remove others. Now, at the database level:
--   * rows are added by the conversation's admins, by whoever created the conversation in this
--     same transaction (its first participants, the creator among them), or by the
--     organization's admins and system administrators;
--   * a row is changed by its own user (read marks, notification settings, leaving, coming
--     back), or by those who may add rows; only they may make a row an admin;
--   * a row never moves to another conversation, user or tenant (a trigger, for every role).

CREATE FUNCTION app_admin_conversation_ids() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT conversation_id FROM participants
    WHERE user_id = app_user_id() AND left_at IS NULL AND role = 'admin'
$$;

-- now() is the transaction's start: created_at equals it only for a conversation inserted by
-- this very transaction (savepoints included), never for an older one.
CREATE FUNCTION app_conversation_created_now(p_conversation uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT EXISTS (
        SELECT 1 FROM conversations
        WHERE id = p_conversation AND created_by = app_user_id() AND created_at = now())
$$;

DROP POLICY participants_members ON participants;
CREATE POLICY participants_read ON participants FOR SELECT
    USING (user_id = app_user_id() OR conversation_id IN (SELECT app_conversation_ids())
           OR (SELECT app_is_sys_admin()) OR org_id IN (SELECT app_admin_org_ids()));
CREATE POLICY participants_add ON participants FOR INSERT
    WITH CHECK (app_tenant_visible(zone_id, org_id) AND (
        conversation_id IN (SELECT app_admin_conversation_ids())
        OR app_conversation_created_now(conversation_id)
        OR org_id IN (SELECT app_admin_org_ids()) OR (SELECT app_is_sys_admin())));
CREATE POLICY participants_change ON participants FOR UPDATE
    USING (user_id = app_user_id() OR conversation_id IN (SELECT app_admin_conversation_ids())
           OR org_id IN (SELECT app_admin_org_ids()) OR (SELECT app_is_sys_admin()))
    WITH CHECK (app_tenant_visible(zone_id, org_id) AND (
        role <> 'admin'
        OR conversation_id IN (SELECT app_admin_conversation_ids())
        OR app_conversation_created_now(conversation_id)
        OR org_id IN (SELECT app_admin_org_ids()) OR (SELECT app_is_sys_admin())));
CREATE POLICY participants_remove ON participants FOR DELETE
    USING (conversation_id IN (SELECT app_admin_conversation_ids())
           OR org_id IN (SELECT app_admin_org_ids()) OR (SELECT app_is_sys_admin()));

CREATE FUNCTION participants_keys_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.conversation_id <> OLD.conversation_id OR NEW.user_id <> OLD.user_id
       OR NEW.zone_id <> OLD.zone_id OR NEW.org_id <> OLD.org_id THEN
        RAISE EXCEPTION 'a participant row keeps its conversation, user and tenant'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER participants_keys_fixed
    BEFORE UPDATE OF conversation_id, user_id, zone_id, org_id ON participants
    FOR EACH ROW EXECUTE FUNCTION participants_keys_fixed();

-- Item keys: any member of the organization could read items.answer (students included);
-- only the code hid it. The application role may no longer read the column at all
-- (schema/migrate.py grants it every column of items but `answer`); the key is read through
-- app_item_key(), which answers:
--   * staff of the item's organization, administrators of its zone, system administrators;
--   * the hub's own system transactions (no acting role: `SET LOCAL ROLE NONE`);
--   * a student, only for the item their active attempt is on now (the CAT item served and
--     awaited, the position a CBT form is on) or, in a fixed-order exam, an item of the
--     exam they are sitting: the answer's scoring runs in the student's transaction.
-- Everything else gets NULL. VOLATILE so that INSERT/UPDATE ... RETURNING see their own row.
CREATE FUNCTION app_item_key(p_item uuid) RETURNS smallint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    SELECT i.answer FROM items i
    WHERE i.id = p_item AND (
        current_setting('role') = 'none'
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
