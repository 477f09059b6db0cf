-- Who stands behind a consent row (hub/privacy/consent.py): the person ('self'), a parent with
-- an approved link for their child ('parent'), or the school attesting enrollment ('school':
-- the school as data controller, on a roster import). recorded_by is who recorded it.
ALTER TABLE consents
    ADD COLUMN source text NOT NULL DEFAULT 'self' CHECK (source IN ('self', 'parent', 'school')),
    ADD COLUMN recorded_by uuid;

-- Redaction of an erased person's name in the audit log (and its archive) reads only the rows
-- that can name them (hub/privacy/scrub.py): theirs, and the anonymous ones (failed sign-ins).
CREATE INDEX audit_log_actor ON audit_log (actor_id) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_log_anonymous ON audit_log (at) WHERE actor_id IS NULL;
CREATE INDEX audit_archive_actor ON audit_archive (actor_id) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_archive_anonymous ON audit_archive (at) WHERE actor_id IS NULL;

-- The conversations a person left (the erased person's, once their account is closed): what
-- participants_user (members now) does not cover.
CREATE INDEX participants_left ON participants (user_id) WHERE left_at IS NOT NULL;
