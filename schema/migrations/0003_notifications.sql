-- Notifications: devices, per-conversation and per-user preferences, the in-app center.

CREATE TABLE devices (
    token        text PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id   uuid REFERENCES sessions(id) ON DELETE SET NULL,
    platform     text NOT NULL CHECK (platform IN ('android', 'ios', 'web')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_user ON devices (user_id);

ALTER TABLE participants
    ADD COLUMN muted boolean NOT NULL DEFAULT false,
    ADD COLUMN push_enabled boolean NOT NULL DEFAULT true,
    ADD COLUMN email_enabled boolean NOT NULL DEFAULT false,
    -- The highest seq a push (or digest) already told this participant about.
    ADD COLUMN last_notified_seq bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_digest_seq bigint NOT NULL DEFAULT 0;

CREATE TABLE notification_preferences (
    user_id         uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    quiet_start     time,
    quiet_end       time,
    digest_delay_s  integer NOT NULL DEFAULT 3600 CHECK (digest_delay_s BETWEEN 300 AND 604800),
    email_digest    boolean NOT NULL DEFAULT true,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);

CREATE TABLE notifications (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- Same key = same notification: an event enqueued twice records (and pushes) once.
    dedup_key     text NOT NULL,
    kind          text NOT NULL,
    title         text NOT NULL,
    body          text NOT NULL,
    data          jsonb NOT NULL DEFAULT '{}'::jsonb,
    collapse_key  text NOT NULL,
    urgent        boolean NOT NULL DEFAULT false,
    -- pending -> sent | held (quiet hours) -> summarised | skipped (no device, push off)
    push_state    text NOT NULL DEFAULT 'pending'
                  CHECK (push_state IN ('pending', 'held', 'sent', 'summarised', 'skipped')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    pushed_at     timestamptz,
    emailed_at    timestamptz,
    read_at       timestamptz,
    UNIQUE (user_id, dedup_key)
);
CREATE INDEX notifications_user ON notifications (user_id, created_at DESC);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;
CREATE INDEX notifications_held ON notifications (user_id) WHERE push_state = 'held';

ALTER TABLE devices ENABLE ROW LEVEL SECURITY;
CREATE POLICY devices_own ON devices FOR ALL
    USING (user_id = app_user_id()) WITH CHECK (user_id = app_user_id());

ALTER TABLE notification_preferences ENABLE ROW LEVEL SECURITY;
CREATE POLICY notification_preferences_own ON notification_preferences FOR ALL
    USING (user_id = app_user_id()) WITH CHECK (user_id = app_user_id());

ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY notifications_own ON notifications FOR ALL
    USING (user_id = app_user_id()) WITH CHECK (user_id = app_user_id());

-- A teacher can mark a message urgent: it breaks through quiet hours.
ALTER TABLE messages ADD COLUMN urgent boolean NOT NULL DEFAULT false;
