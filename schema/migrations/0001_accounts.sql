-- Accounts, organizations, zones, sessions, parent links, consents, audit log,
-- and the row-level security that keeps tenants apart.

CREATE TABLE zones (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9_]{2,40}$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO zones (slug, name) VALUES
    ('univprep', 'UnivPrep'), ('collegeprep', 'CollegePrep'), ('skillprep', 'SkillPrep'),
    ('mediprep', 'MediPrep'), ('majorprep', 'MajorPrep'), ('mediaprep', 'MediaPrep'),
    ('kzone', 'K-Zone'), ('kzone_ai', 'K-Zone AI'), ('mpcstudy', 'MPC Study'),
    ('portal', 'Portal');

CREATE TABLE users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email          text NOT NULL CHECK (email = lower(email)),
    password_hash  text NOT NULL,
    display_name   text NOT NULL,
    language       text NOT NULL DEFAULT 'ko' CHECK (language IN ('ko', 'en')),
    timezone       text NOT NULL DEFAULT 'Asia/Seoul',
    is_sys_admin   boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE zone_admins (
    zone_id     uuid NOT NULL REFERENCES zones(id),
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (zone_id, user_id)
);
CREATE INDEX zone_admins_user ON zone_admins (user_id);

CREATE TABLE organizations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    zone_id     uuid NOT NULL REFERENCES zones(id),
    name        text NOT NULL,
    kind        text NOT NULL DEFAULT 'school' CHECK (kind IN ('school', 'academy', 'other')),
    settings    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_by  uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX organizations_zone ON organizations (zone_id);

CREATE TYPE org_role AS ENUM ('student', 'parent', 'teacher', 'tutor', 'org_admin');

-- One row per role a person holds in an organization: a teacher at one school can be a
-- parent at another, or both teacher and org_admin at the same one.
CREATE TABLE memberships (
    org_id      uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    zone_id     uuid NOT NULL REFERENCES zones(id),
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        org_role NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id, role)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE classes (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    zone_id     uuid NOT NULL REFERENCES zones(id),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);

CREATE TABLE class_members (
    class_id    uuid NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    org_id      uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    zone_id     uuid NOT NULL REFERENCES zones(id),
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('teacher', 'student')),
    PRIMARY KEY (class_id, user_id)
);

-- A session is one refresh-token family: every rotation stays in it, and a reused token
-- revokes all of it.
CREATE TABLE sessions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    revoked_reason  text,
    user_agent      text,
    ip              inet
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

CREATE TYPE link_status AS ENUM ('pending', 'approved', 'rejected', 'expired');

CREATE TABLE parent_links (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id        uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    zone_id       uuid NOT NULL REFERENCES zones(id),
    parent_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    student_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    status        link_status NOT NULL DEFAULT 'pending',
    requested_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    answered_at   timestamptz,
    CHECK (parent_id <> student_id)
);
CREATE UNIQUE INDEX parent_links_live ON parent_links (parent_id, student_id)
    WHERE status IN ('pending', 'approved');
CREATE INDEX parent_links_pending_expiry ON parent_links (expires_at) WHERE status = 'pending';

CREATE TABLE consents (
    id           bigserial PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind         text NOT NULL,
    version      text NOT NULL,
    granted      boolean NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    ip           inet,
    user_agent   text
);
CREATE INDEX consents_user ON consents (user_id, recorded_at DESC);

CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor_id     uuid,
    action       text NOT NULL,
    target_type  text,
    target_id    text,
    zone_id      uuid,
    org_id       uuid,
    ip           inet,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_zone ON audit_log (zone_id, at DESC);

-- Row-level security. The acting user is set per transaction (SET LOCAL app.user_id);
-- the helpers are SECURITY DEFINER so that policies can read memberships without
-- recursing into memberships' own policy.

CREATE FUNCTION app_user_id() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('app.user_id', true), '')::uuid
$$;

CREATE FUNCTION app_is_sys_admin() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT coalesce((SELECT is_sys_admin FROM users WHERE id = app_user_id()), false)
$$;

CREATE FUNCTION app_org_ids() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT DISTINCT org_id FROM memberships WHERE user_id = app_user_id()
$$;

CREATE FUNCTION app_admin_org_ids() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT org_id FROM memberships WHERE user_id = app_user_id() AND role = 'org_admin'
$$;

CREATE FUNCTION app_admin_zone_ids() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT zone_id FROM zone_admins WHERE user_id = app_user_id()
$$;

CREATE FUNCTION app_tenant_visible(p_zone uuid, p_org uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT app_is_sys_admin()
        OR p_org IN (SELECT app_org_ids())
        OR p_zone IN (SELECT app_admin_zone_ids())
$$;

CREATE FUNCTION app_user_visible(p_user uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT p_user = app_user_id()
        OR app_is_sys_admin()
        OR EXISTS (
            SELECT 1 FROM memberships m
            WHERE m.user_id = p_user
              AND (m.org_id IN (SELECT app_org_ids())
                   OR m.zone_id IN (SELECT app_admin_zone_ids()))
        )
$$;

ALTER TABLE zones ENABLE ROW LEVEL SECURITY;
CREATE POLICY zones_read ON zones FOR SELECT USING (true);
CREATE POLICY zones_write ON zones FOR INSERT WITH CHECK (app_is_sys_admin());

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY users_read ON users FOR SELECT USING (app_user_visible(id));
CREATE POLICY users_update ON users FOR UPDATE
    USING (id = app_user_id() OR app_is_sys_admin());

ALTER TABLE zone_admins ENABLE ROW LEVEL SECURITY;
CREATE POLICY zone_admins_read ON zone_admins FOR SELECT
    USING (user_id = app_user_id() OR app_is_sys_admin());
CREATE POLICY zone_admins_write ON zone_admins FOR ALL
    USING (app_is_sys_admin()) WITH CHECK (app_is_sys_admin());

ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
CREATE POLICY organizations_tenant ON organizations FOR ALL
    USING (app_tenant_visible(zone_id, id))
    WITH CHECK (app_is_sys_admin() OR zone_id IN (SELECT app_admin_zone_ids())
                OR id IN (SELECT app_admin_org_ids()));

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
CREATE POLICY memberships_tenant ON memberships FOR ALL
    USING (user_id = app_user_id() OR app_tenant_visible(zone_id, org_id))
    WITH CHECK (app_tenant_visible(zone_id, org_id));

ALTER TABLE classes ENABLE ROW LEVEL SECURITY;
CREATE POLICY classes_tenant ON classes FOR ALL
    USING (app_tenant_visible(zone_id, org_id)) WITH CHECK (app_tenant_visible(zone_id, org_id));

ALTER TABLE class_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY class_members_tenant ON class_members FOR ALL
    USING (app_tenant_visible(zone_id, org_id)) WITH CHECK (app_tenant_visible(zone_id, org_id));

ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY sessions_own ON sessions FOR ALL
    USING (user_id = app_user_id()) WITH CHECK (user_id = app_user_id());

ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY refresh_tokens_own ON refresh_tokens FOR ALL
    USING (user_id = app_user_id()) WITH CHECK (user_id = app_user_id());

ALTER TABLE parent_links ENABLE ROW LEVEL SECURITY;
CREATE POLICY parent_links_parties ON parent_links FOR ALL
    USING (parent_id = app_user_id() OR student_id = app_user_id()
           OR app_is_sys_admin() OR org_id IN (SELECT app_admin_org_ids())
           OR zone_id IN (SELECT app_admin_zone_ids()))
    WITH CHECK (parent_id = app_user_id() OR student_id = app_user_id());

ALTER TABLE consents ENABLE ROW LEVEL SECURITY;
CREATE POLICY consents_own ON consents FOR SELECT
    USING (user_id = app_user_id() OR app_is_sys_admin());
CREATE POLICY consents_insert ON consents FOR INSERT WITH CHECK (user_id = app_user_id());

-- Append-only for the application: no UPDATE or DELETE policy exists.
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_log_read ON audit_log FOR SELECT
    USING (app_is_sys_admin() OR zone_id IN (SELECT app_admin_zone_ids()));
CREATE POLICY audit_log_append ON audit_log FOR INSERT WITH CHECK (true);
