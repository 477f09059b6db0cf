-- Data lifecycle: the proof of each erasure, the audit archive, data exports.

-- One row per erased person: who asked and when, an HMAC of the erased identifiers (readable
-- without revealing the person), what was found and removed per table. subject_id is the
-- opaque id of the scrubbed users row: the list re-applied after a backup is restored.
CREATE TABLE erasures (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    subject_id      uuid NOT NULL UNIQUE,
    subject_hash    text NOT NULL,
    pseudonym_id    uuid REFERENCES users(id),
    requested_by    uuid,
    requested_role  text NOT NULL
                    CHECK (requested_role IN ('self', 'org_admin', 'zone_admin', 'sys_admin')),
    zone_ids        uuid[] NOT NULL DEFAULT '{}',
    org_ids         uuid[] NOT NULL DEFAULT '{}',
    status          text NOT NULL DEFAULT 'requested'
                    CHECK (status IN ('requested', 'running', 'done')),
    counts          jsonb NOT NULL DEFAULT '{}'::jsonb,
    requested_at    timestamptz NOT NULL,
    started_at      timestamptz,
    finished_at     timestamptz
);
CREATE INDEX erasures_open ON erasures (requested_at) WHERE status <> 'done';

ALTER TABLE erasures ENABLE ROW LEVEL SECURITY;
CREATE POLICY erasures_read ON erasures FOR SELECT
    USING ((SELECT app_is_sys_admin()) OR requested_by = (SELECT app_user_id())
           OR org_ids && ARRAY(SELECT app_admin_org_ids())
           OR zone_ids && ARRAY(SELECT app_admin_zone_ids()));

-- Audit rows past their hot year, kept until the legal period ends (hub/privacy/retention.py).
CREATE TABLE audit_archive (
    id           bigint PRIMARY KEY,
    at           timestamptz NOT NULL,
    actor_id     uuid,
    action       text NOT NULL,
    target_type  text,
    target_id    text,
    zone_id      uuid,
    org_id       uuid,
    ip           inet,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb,
    archived_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_archive_at ON audit_archive (at);
ALTER TABLE audit_archive ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_archive_read ON audit_archive FOR SELECT
    USING ((SELECT app_is_sys_admin()) OR zone_id IN (SELECT app_admin_zone_ids()));

-- Retention sweeps walk these by age.
CREATE INDEX notifications_created ON notifications (created_at);
CREATE INDEX proctor_events_server_at ON proctor_events (server_at) WHERE details <> '{}'::jsonb;
CREATE INDEX messages_deleted_text ON messages (deleted_at) WHERE deleted_at IS NOT NULL AND content <> '';
CREATE INDEX tutor_requests_created ON tutor_requests (created_at);

-- A person's archive of everything held about them, built by the worker; the download token
-- is stored hashed and lives as long as the archive.
CREATE TABLE data_exports (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    subject_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    requested_by  uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    status        text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'ready', 'failed')),
    storage_key   text,
    token_hash    bytea,
    size          bigint,
    requested_at  timestamptz NOT NULL,
    ready_at      timestamptz,
    expires_at    timestamptz
);
CREATE INDEX data_exports_subject ON data_exports (subject_id);
CREATE INDEX data_exports_expiry ON data_exports (expires_at);
ALTER TABLE data_exports ENABLE ROW LEVEL SECURITY;
CREATE POLICY data_exports_own ON data_exports FOR SELECT
    USING (requested_by = (SELECT app_user_id()));
