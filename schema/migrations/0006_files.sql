-- Attachments: uploaded files, the messages that carry them, resumable uploads in progress.

CREATE TYPE file_state AS ENUM ('pending', 'clean', 'infected', 'refused');
CREATE TYPE file_kind AS ENUM ('image', 'document', 'audio');

CREATE TABLE files (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    zone_id        uuid NOT NULL REFERENCES zones(id),
    org_id         uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    uploader_id    uuid REFERENCES users(id) ON DELETE SET NULL,
    name           text NOT NULL,
    mime           text NOT NULL,
    kind           file_kind NOT NULL,
    size           bigint NOT NULL,
    -- The bytes are stored once per organization and content: "{org_id}/{sha256}".
    sha256         text NOT NULL,
    storage_key    text NOT NULL,
    thumbnail_key  text,
    state          file_state NOT NULL DEFAULT 'pending',
    reason         text,
    width          integer,
    height         integer,
    duration_s     real,
    -- {"language", "language_probability", "text", "segments": [{"start", "end", "text"}]}
    transcript     jsonb,
    scan_tries     integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    checked_at     timestamptz,
    -- Set when the bytes are gone (its messages were deleted, or its uploader erased).
    deleted_at     timestamptz
);
CREATE INDEX files_content ON files (org_id, sha256);
CREATE INDEX files_uploader ON files (uploader_id, created_at);
CREATE INDEX files_pending ON files (created_at) WHERE state = 'pending';

CREATE TABLE message_files (
    message_id       uuid NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    file_id          uuid NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    conversation_id  uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    zone_id          uuid NOT NULL,
    org_id           uuid NOT NULL,
    position         smallint NOT NULL,
    PRIMARY KEY (message_id, file_id)
);
CREATE INDEX message_files_file ON message_files (file_id);

-- tus uploads in progress: the bytes so far live in DATA_DIR until the last chunk.
CREATE TABLE file_uploads (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    zone_id      uuid NOT NULL,
    org_id       uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name         text NOT NULL,
    length       bigint NOT NULL,
    received     bigint NOT NULL DEFAULT 0,
    file_id      uuid REFERENCES files(id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

-- A file is visible to its uploader and to the members of a conversation where a message
-- that is not deleted carries it.
CREATE FUNCTION app_may_see_file(p_file uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT EXISTS (
        SELECT 1 FROM message_files mf JOIN messages m ON m.id = mf.message_id
        WHERE mf.file_id = p_file AND m.deleted_at IS NULL
          AND mf.conversation_id IN (SELECT app_conversation_ids()))
$$;

-- The same bytes are stored once per organization: what is known of a content already
-- stored, for a member of that organization (whoever uploaded it first).
CREATE FUNCTION app_stored_content(p_org uuid, p_sha256 text)
RETURNS TABLE (storage_key text, state file_state, reason text, mime text, size bigint,
               thumbnail_key text, width integer, height integer, duration_s real,
               transcript jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT storage_key, state, reason, mime, size, thumbnail_key, width, height, duration_s,
           transcript
    FROM files
    WHERE org_id = p_org AND sha256 = p_sha256 AND deleted_at IS NULL
      AND p_org IN (SELECT app_org_ids())
    ORDER BY (state = 'clean') DESC, created_at
    LIMIT 1
$$;

ALTER TABLE files ENABLE ROW LEVEL SECURITY;
CREATE POLICY files_read ON files FOR SELECT
    USING (uploader_id = app_user_id() OR app_may_see_file(id));
CREATE POLICY files_insert ON files FOR INSERT
    WITH CHECK (uploader_id = app_user_id() AND org_id IN (SELECT app_org_ids()));
CREATE POLICY files_update ON files FOR UPDATE
    USING (uploader_id = app_user_id()) WITH CHECK (uploader_id = app_user_id());

ALTER TABLE message_files ENABLE ROW LEVEL SECURITY;
CREATE POLICY message_files_members ON message_files FOR ALL
    USING (conversation_id IN (SELECT app_conversation_ids()))
    WITH CHECK (conversation_id IN (SELECT app_conversation_ids()));

ALTER TABLE file_uploads ENABLE ROW LEVEL SECURITY;
CREATE POLICY file_uploads_own ON file_uploads FOR ALL
    USING (user_id = app_user_id())
    WITH CHECK (user_id = app_user_id() AND org_id IN (SELECT app_org_ids()));
