-- A school's first week: the report queue, mutes, invitations.

-- The report queue: an organization's administrators resolve what members reported.
ALTER TABLE message_reports
    ADD COLUMN resolution   text CHECK (resolution IN ('dismissed', 'deleted', 'warned', 'muted')),
    ADD COLUMN resolved_by  uuid REFERENCES users(id) ON DELETE SET NULL,
    ADD COLUMN note         text;
CREATE INDEX message_reports_open ON message_reports (org_id, created_at) WHERE resolved_at IS NULL;
CREATE POLICY message_reports_resolve ON message_reports FOR UPDATE
    USING (app_is_sys_admin() OR org_id IN (SELECT app_admin_org_ids())
           OR zone_id IN (SELECT app_admin_zone_ids()))
    WITH CHECK (app_is_sys_admin() OR org_id IN (SELECT app_admin_org_ids())
                OR zone_id IN (SELECT app_admin_zone_ids()));

-- A member muted by the school's administrators sends nothing in that school until muted_until.
CREATE TABLE member_mutes (
    id           bigserial PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    zone_id      uuid NOT NULL REFERENCES zones(id),
    user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    muted_until  timestamptz NOT NULL,
    muted_by     uuid REFERENCES users(id) ON DELETE SET NULL,
    report_id    bigint REFERENCES message_reports(id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX member_mutes_user ON member_mutes (user_id, org_id, muted_until);
ALTER TABLE member_mutes ENABLE ROW LEVEL SECURITY;
CREATE POLICY member_mutes_read ON member_mutes FOR SELECT
    USING (user_id = app_user_id() OR app_is_sys_admin()
           OR org_id IN (SELECT app_admin_org_ids()) OR zone_id IN (SELECT app_admin_zone_ids()));
CREATE POLICY member_mutes_write ON member_mutes FOR INSERT
    WITH CHECK (app_is_sys_admin() OR org_id IN (SELECT app_admin_org_ids())
                OR zone_id IN (SELECT app_admin_zone_ids()));

-- Invitation codes (and links carrying them): a person joins an organization, and optionally a
-- class, with one role by redeeming a code its administrators made. Redeeming is the consent.
CREATE TABLE invitations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code        text NOT NULL UNIQUE,
    org_id      uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    zone_id     uuid NOT NULL REFERENCES zones(id),
    class_id    uuid REFERENCES classes(id) ON DELETE CASCADE,
    role        org_role NOT NULL,
    max_uses    integer NOT NULL CHECK (max_uses > 0),
    uses        integer NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
    expires_at  timestamptz NOT NULL,
    created_by  uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX invitations_org ON invitations (org_id, created_at);
CREATE TABLE invitation_redemptions (
    invitation_id  uuid NOT NULL REFERENCES invitations(id) ON DELETE CASCADE,
    user_id        uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id         uuid NOT NULL,
    zone_id        uuid NOT NULL,
    redeemed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (invitation_id, user_id)
);
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
CREATE POLICY invitations_admins ON invitations FOR ALL
    USING (app_is_sys_admin() OR org_id IN (SELECT app_admin_org_ids())
           OR zone_id IN (SELECT app_admin_zone_ids()))
    WITH CHECK (app_is_sys_admin() OR org_id IN (SELECT app_admin_org_ids())
                OR zone_id IN (SELECT app_admin_zone_ids()));
ALTER TABLE invitation_redemptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY invitation_redemptions_read ON invitation_redemptions FOR SELECT
    USING (user_id = app_user_id() OR app_is_sys_admin()
           OR org_id IN (SELECT app_admin_org_ids()) OR zone_id IN (SELECT app_admin_zone_ids()));
