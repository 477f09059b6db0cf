-- Messenger: conversations, participants, messages with a gap-free seq, reports, receipts.

CREATE TYPE conversation_kind AS ENUM ('direct', 'group', 'announcement');
CREATE TYPE participant_role AS ENUM ('admin', 'member', 'observer');

CREATE TABLE conversations (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    zone_id          uuid NOT NULL REFERENCES zones(id),
    org_id           uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    kind             conversation_kind NOT NULL,
    title            text,
    -- "smaller-uuid:larger-uuid" for direct conversations: one per pair.
    direct_key       text UNIQUE,
    -- last_seq numbers messages (gap-free); change_seq numbers every change (messages,
    -- edits, deletions, membership), so a returning client can catch up on all of them.
    last_seq         bigint NOT NULL DEFAULT 0,
    change_seq       bigint NOT NULL DEFAULT 0,
    last_message_at  timestamptz,
    created_by       uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'direct') = (direct_key IS NOT NULL))
);
CREATE INDEX conversations_org ON conversations (org_id);

CREATE TABLE participants (
    conversation_id  uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id          uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    zone_id          uuid NOT NULL REFERENCES zones(id),
    org_id           uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    role             participant_role NOT NULL DEFAULT 'member',
    last_read_seq    bigint NOT NULL DEFAULT 0,
    joined_at        timestamptz NOT NULL DEFAULT now(),
    left_at          timestamptz,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX participants_user ON participants (user_id) WHERE left_at IS NULL;

CREATE TYPE message_type AS ENUM ('text', 'image', 'file', 'voice', 'system');

CREATE TABLE messages (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id  uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    zone_id          uuid NOT NULL REFERENCES zones(id),
    org_id           uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    seq              bigint NOT NULL,
    change_seq       bigint NOT NULL,
    sender_id        uuid REFERENCES users(id) ON DELETE SET NULL,
    client_msg_id    text NOT NULL,
    message_type     message_type NOT NULL DEFAULT 'text',
    content          text NOT NULL,
    reply_to         uuid REFERENCES messages(id) ON DELETE SET NULL,
    ack_required     boolean NOT NULL DEFAULT false,
    search_tokens    tsvector,
    created_at       timestamptz NOT NULL DEFAULT now(),
    edited_at        timestamptz,
    deleted_at       timestamptz,
    UNIQUE (conversation_id, seq),
    UNIQUE (sender_id, client_msg_id)
);
CREATE INDEX messages_changes ON messages (conversation_id, change_seq);
CREATE INDEX messages_created ON messages (conversation_id, created_at);
CREATE INDEX messages_search ON messages USING gin (search_tokens);

-- Membership changes, in the conversation's change order (messages carry their own).
CREATE TABLE conversation_events (
    conversation_id  uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    change_seq       bigint NOT NULL,
    zone_id          uuid NOT NULL,
    org_id           uuid NOT NULL,
    kind             text NOT NULL,
    user_id          uuid,
    actor_id         uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, change_seq)
);

-- "I have read this announcement and agree" (a permission slip).
CREATE TABLE message_acks (
    message_id   uuid NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    zone_id      uuid NOT NULL,
    org_id       uuid NOT NULL,
    acked_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, user_id)
);

CREATE TABLE message_reports (
    id           bigserial PRIMARY KEY,
    message_id   uuid NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    reporter_id  uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    zone_id      uuid NOT NULL,
    org_id       uuid NOT NULL,
    reason       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz,
    UNIQUE (message_id, reporter_id)
);

CREATE FUNCTION app_conversation_ids() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT conversation_id FROM participants WHERE user_id = app_user_id() AND left_at IS NULL
$$;

ALTER TABLE conversations ENABLE ROW LEVEL SECURITY;
CREATE POLICY conversations_members ON conversations FOR ALL
    USING (id IN (SELECT app_conversation_ids()) OR app_is_sys_admin()
           OR org_id IN (SELECT app_admin_org_ids()))
    WITH CHECK (app_tenant_visible(zone_id, org_id));

ALTER TABLE participants ENABLE ROW LEVEL SECURITY;
CREATE POLICY participants_members ON participants FOR ALL
    USING (user_id = app_user_id() OR conversation_id IN (SELECT app_conversation_ids())
           OR app_is_sys_admin() OR org_id IN (SELECT app_admin_org_ids()))
    WITH CHECK (app_tenant_visible(zone_id, org_id));

ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY messages_members ON messages FOR ALL
    USING (conversation_id IN (SELECT app_conversation_ids()))
    WITH CHECK (conversation_id IN (SELECT app_conversation_ids()));

ALTER TABLE conversation_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY conversation_events_members ON conversation_events FOR ALL
    USING (conversation_id IN (SELECT app_conversation_ids()))
    WITH CHECK (app_tenant_visible(zone_id, org_id));

ALTER TABLE message_acks ENABLE ROW LEVEL SECURITY;
CREATE POLICY message_acks_members ON message_acks FOR ALL
    USING (user_id = app_user_id() OR app_tenant_visible(zone_id, org_id))
    WITH CHECK (user_id = app_user_id());

ALTER TABLE message_reports ENABLE ROW LEVEL SECURITY;
CREATE POLICY message_reports_read ON message_reports FOR SELECT
    USING (reporter_id = app_user_id() OR app_is_sys_admin()
           OR org_id IN (SELECT app_admin_org_ids()) OR zone_id IN (SELECT app_admin_zone_ids()));
CREATE POLICY message_reports_insert ON message_reports FOR INSERT
    WITH CHECK (reporter_id = app_user_id());
