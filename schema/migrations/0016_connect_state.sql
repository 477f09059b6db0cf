-- A socket's connect in one round trip (issue 12, target 2). The hub used BEGIN; SET LOCAL
-- app.user_id, then the state query, then COMMIT: three round trips for one read. This
-- function sets the acting user itself and reads the same state in the same statement's
-- (implicit) transaction. It runs as the caller (SECURITY INVOKER), so row-level security
-- is the wall exactly as before: it reads what that user may read, nothing more.

CREATE FUNCTION app_connect_state(p_session uuid, p_user uuid)
RETURNS TABLE (revoked_at timestamptz, deleted_at timestamptz, rooms uuid[], contacts uuid[])
LANGUAGE plpgsql VOLATILE STRICT SECURITY INVOKER SET search_path = public, pg_temp AS $$
BEGIN
    -- For a statement of its own: its implicit transaction, and the setting, end with it.
    -- It gives the caller no power it lacks (the app role may set app.user_id itself), but
    -- it never switches a transaction that already acts for someone else.
    IF coalesce(current_setting('app.user_id', true), '') NOT IN ('', p_user::text) THEN
        RAISE EXCEPTION 'app_connect_state cannot change the acting user of a transaction';
    END IF;
    PERFORM set_config('app.user_id', p_user::text, true);
    RETURN QUERY
    SELECT s.revoked_at, u.deleted_at,
           ARRAY(SELECT p.conversation_id FROM participants p
                 WHERE p.user_id = p_user AND p.left_at IS NULL),
           ARRAY(SELECT o.user_id FROM participants p
                 JOIN conversations c ON c.id = p.conversation_id AND c.kind = 'direct'
                 JOIN participants o ON o.conversation_id = p.conversation_id
                      AND o.user_id <> p.user_id AND o.left_at IS NULL
                 WHERE p.user_id = p_user AND p.left_at IS NULL)
    FROM sessions s JOIN users u ON u.id = s.user_id
    WHERE s.id = p_session AND s.user_id = p_user;
END
$$;
