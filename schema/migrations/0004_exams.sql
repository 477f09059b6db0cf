-- Exams: an item bank with IRT parameters (and their calibration history), exams in three
-- modes, attempts with server-kept deadlines, answers, and proctoring events.

CREATE TYPE exam_mode AS ENUM ('fixed', 'cbt', 'cat');
CREATE TYPE attempt_status AS ENUM ('active', 'submitted');

-- Multiple-choice items. The answer key and the IRT parameters never leave for a student.
CREATE TABLE items (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    zone_id           uuid NOT NULL REFERENCES zones(id),
    org_id            uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    created_by        uuid REFERENCES users(id) ON DELETE SET NULL,
    stem              text NOT NULL,
    choices           text[] NOT NULL CHECK (cardinality(choices) BETWEEN 2 AND 10),
    answer            smallint NOT NULL CHECK (answer >= 0),
    content_area      text,
    points            smallint NOT NULL DEFAULT 1 CHECK (points > 0),
    -- The current IRT parameters (3PL, D = 1.702); param_version points into item_parameters.
    a                 double precision NOT NULL DEFAULT 1 CHECK (a > 0),
    b                 double precision NOT NULL DEFAULT 0,
    c                 double precision NOT NULL DEFAULT 0 CHECK (c >= 0 AND c < 1),
    param_version     integer NOT NULL DEFAULT 1,
    -- Set when a calibration found the parameters drifted: a teacher reviews the item.
    drift_flagged_at  timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    retired_at        timestamptz,
    CHECK (answer < cardinality(choices))
);
CREATE INDEX items_org ON items (org_id) WHERE retired_at IS NULL;

-- Every parameter set an item ever had: version 1 is what its author gave; later versions
-- come from calibration. status: current (in use), superseded, proposed (drifted: awaiting
-- review), rejected (a teacher kept the old values).
CREATE TABLE item_parameters (
    item_id        uuid NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    version        integer NOT NULL,
    zone_id        uuid NOT NULL,
    org_id         uuid NOT NULL,
    a              double precision NOT NULL,
    b              double precision NOT NULL,
    c              double precision NOT NULL,
    source         text NOT NULL CHECK (source IN ('author', 'calibration')),
    status         text NOT NULL CHECK (status IN ('current', 'superseded', 'proposed', 'rejected')),
    n_responses    integer NOT NULL DEFAULT 0,
    drift_rmsd     double precision,
    created_at     timestamptz NOT NULL DEFAULT now(),
    reviewed_by    uuid REFERENCES users(id) ON DELETE SET NULL,
    reviewed_at    timestamptz,
    PRIMARY KEY (item_id, version)
);

CREATE TABLE exams (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    zone_id        uuid NOT NULL REFERENCES zones(id),
    org_id         uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    -- Who sits it: one class, or every student of the organization. RESTRICT: a deleted class
    -- must not turn its exam into one for the whole school.
    class_id       uuid REFERENCES classes(id) ON DELETE RESTRICT,
    created_by     uuid REFERENCES users(id) ON DELETE SET NULL,
    title          text NOT NULL,
    mode           exam_mode NOT NULL,
    time_limit_s   integer CHECK (time_limit_s > 0),
    max_attempts   smallint NOT NULL DEFAULT 1 CHECK (max_attempts BETWEEN 1 AND 20),
    -- The form never changes after creation: its length is kept here, not counted per answer.
    item_count     integer NOT NULL CHECK (item_count > 0),
    -- CAT: se_stop, max_items, min_items, top_k, r_max, content_balance.
    settings       jsonb NOT NULL DEFAULT '{}'::jsonb,
    opens_at       timestamptz,
    closes_at      timestamptz,
    -- Students review which answers were right once the exam has closed, or earlier if a
    -- teacher releases the review (hub/exams/results.py).
    review_released_at timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (mode <> 'cbt' OR time_limit_s IS NOT NULL),
    CHECK (opens_at IS NULL OR closes_at IS NULL OR opens_at < closes_at)
);
CREATE INDEX exams_org ON exams (org_id, created_at DESC);

-- The form (fixed, CBT: in order) or the pool (CAT).
CREATE TABLE exam_items (
    exam_id    uuid NOT NULL REFERENCES exams(id) ON DELETE CASCADE,
    item_id    uuid NOT NULL REFERENCES items(id) ON DELETE RESTRICT,
    position   integer NOT NULL CHECK (position >= 0),
    zone_id    uuid NOT NULL,
    org_id     uuid NOT NULL,
    PRIMARY KEY (exam_id, item_id),
    UNIQUE (exam_id, position)
);

CREATE TABLE attempts (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- RESTRICT: an exam somebody sat keeps its attempts, even against a racing delete.
    exam_id        uuid NOT NULL REFERENCES exams(id) ON DELETE RESTRICT,
    zone_id        uuid NOT NULL,
    org_id         uuid NOT NULL,
    student_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    number         smallint NOT NULL CHECK (number >= 1),
    status         attempt_status NOT NULL DEFAULT 'active',
    started_at     timestamptz NOT NULL,
    -- Fixed by the server at start (started_at + limit); moves only when a teacher extends.
    deadline_at    timestamptz,
    finished_at    timestamptz,
    -- student | deadline | teacher | cat_stop
    finished_by    text CHECK (finished_by IN ('student', 'deadline', 'teacher', 'cat_stop')),
    -- CAT: the item served and awaited (asking again returns it).
    pending_item   uuid REFERENCES items(id),
    answered       integer NOT NULL DEFAULT 0,
    score          integer NOT NULL DEFAULT 0,
    max_score      integer NOT NULL DEFAULT 0,
    theta          double precision,
    se             double precision,
    -- Wall-clock time of the submission, and of its follow-up (the student's client, the
    -- proctors and the parents told). A follow-up that failed after the commit is retried by
    -- the deadline sweep, so a submission is never left untold.
    submitted_at   timestamptz,
    followed_up_at timestamptz,
    UNIQUE (exam_id, student_id, number),
    CHECK ((status = 'submitted') = (finished_at IS NOT NULL))
);
-- At most one attempt in progress per student and exam.
CREATE UNIQUE INDEX attempts_one_active ON attempts (exam_id, student_id) WHERE status = 'active';
CREATE INDEX attempts_student_active ON attempts (student_id) WHERE status = 'active';
CREATE INDEX attempts_due ON attempts (deadline_at) WHERE status = 'active';
CREATE INDEX attempts_exam ON attempts (exam_id);
CREATE INDEX attempts_untold ON attempts (submitted_at)
    WHERE status = 'submitted' AND followed_up_at IS NULL;

CREATE TABLE answers (
    attempt_id   uuid NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
    item_id      uuid NOT NULL REFERENCES items(id),
    position     integer NOT NULL,
    zone_id      uuid NOT NULL,
    org_id       uuid NOT NULL,
    student_id   uuid NOT NULL,
    choice       smallint NOT NULL,
    correct      boolean NOT NULL,
    -- CAT: the estimate after this answer.
    theta        double precision,
    se           double precision,
    -- The item's parameters this answer was scored with: a later recalibration changes what
    -- comes next in an attempt, never its past (hub/exams/adaptive.py).
    a            double precision,
    b            double precision,
    c            double precision,
    answered_at  timestamptz NOT NULL,
    PRIMARY KEY (attempt_id, item_id),
    UNIQUE (attempt_id, position)
);
CREATE INDEX answers_item ON answers (item_id);

-- What the student's exam client reported, and what a proctor did, with both clocks.
CREATE TABLE proctor_events (
    id           bigserial PRIMARY KEY,
    attempt_id   uuid NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
    exam_id      uuid NOT NULL,
    zone_id      uuid NOT NULL,
    org_id       uuid NOT NULL,
    student_id   uuid NOT NULL,
    actor_id     uuid,
    kind         text NOT NULL,
    severity     text NOT NULL CHECK (severity IN ('info', 'warning', 'serious')),
    client_at    timestamptz,
    server_at    timestamptz NOT NULL,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX proctor_events_attempt ON proctor_events (attempt_id, id);
CREATE INDEX proctor_events_exam ON proctor_events (exam_id, id);

-- Row-level security: staff of the organization see its exams' data; a student sees their
-- own attempts; a parent sees the attempts of a child whose link they hold.
--
-- Every helper call is wrapped in a scalar sub-select or an IN (SELECT ...): PostgreSQL then
-- evaluates it once per query instead of once per row. The SECURITY DEFINER helpers cannot be
-- inlined, and called per row they cost ~0.1 ms each: counting a 500-item exam's rows as a
-- student took 41-57 ms that way, 0.4 ms this way (measured by loadtest/exam_bench.py).

CREATE FUNCTION app_staff_org_ids() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT org_id FROM memberships
    WHERE user_id = app_user_id() AND role IN ('teacher', 'org_admin')
$$;

CREATE FUNCTION app_child_ids() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT student_id FROM parent_links WHERE parent_id = app_user_id() AND status = 'approved'
$$;

ALTER TABLE items ENABLE ROW LEVEL SECURITY;
-- Students read items of their organization's exams (the code never sends them keys or
-- parameters); only staff write.
CREATE POLICY items_read ON items FOR SELECT
    USING (org_id IN (SELECT app_org_ids()) OR zone_id IN (SELECT app_admin_zone_ids())
           OR (SELECT app_is_sys_admin()));
CREATE POLICY items_write ON items FOR ALL
    USING (org_id IN (SELECT app_staff_org_ids()) OR (SELECT app_is_sys_admin()))
    WITH CHECK (org_id IN (SELECT app_staff_org_ids()) OR (SELECT app_is_sys_admin()));

ALTER TABLE item_parameters ENABLE ROW LEVEL SECURITY;
CREATE POLICY item_parameters_staff ON item_parameters FOR ALL
    USING (org_id IN (SELECT app_staff_org_ids()) OR (SELECT app_is_sys_admin()))
    WITH CHECK (org_id IN (SELECT app_staff_org_ids()) OR (SELECT app_is_sys_admin()));

ALTER TABLE exams ENABLE ROW LEVEL SECURITY;
CREATE POLICY exams_read ON exams FOR SELECT
    USING (org_id IN (SELECT app_org_ids()) OR zone_id IN (SELECT app_admin_zone_ids())
           OR (SELECT app_is_sys_admin()));
CREATE POLICY exams_write ON exams FOR ALL
    USING (org_id IN (SELECT app_staff_org_ids()) OR (SELECT app_is_sys_admin()))
    WITH CHECK (org_id IN (SELECT app_staff_org_ids()) OR (SELECT app_is_sys_admin()));

ALTER TABLE exam_items ENABLE ROW LEVEL SECURITY;
CREATE POLICY exam_items_read ON exam_items FOR SELECT
    USING (org_id IN (SELECT app_org_ids()) OR zone_id IN (SELECT app_admin_zone_ids())
           OR (SELECT app_is_sys_admin()));
CREATE POLICY exam_items_write ON exam_items FOR ALL
    USING (org_id IN (SELECT app_staff_org_ids()) OR (SELECT app_is_sys_admin()))
    WITH CHECK (org_id IN (SELECT app_staff_org_ids()) OR (SELECT app_is_sys_admin()));

ALTER TABLE attempts ENABLE ROW LEVEL SECURITY;
CREATE POLICY attempts_read ON attempts FOR SELECT
    USING (student_id = (SELECT app_user_id()) OR org_id IN (SELECT app_staff_org_ids())
           OR student_id IN (SELECT app_child_ids()) OR zone_id IN (SELECT app_admin_zone_ids())
           OR (SELECT app_is_sys_admin()));
CREATE POLICY attempts_write ON attempts FOR ALL
    USING (student_id = (SELECT app_user_id()) OR org_id IN (SELECT app_staff_org_ids()))
    WITH CHECK ((student_id = (SELECT app_user_id()) AND org_id IN (SELECT app_org_ids()))
                OR org_id IN (SELECT app_staff_org_ids()));

ALTER TABLE answers ENABLE ROW LEVEL SECURITY;
CREATE POLICY answers_read ON answers FOR SELECT
    USING (student_id = (SELECT app_user_id()) OR org_id IN (SELECT app_staff_org_ids())
           OR student_id IN (SELECT app_child_ids()) OR zone_id IN (SELECT app_admin_zone_ids())
           OR (SELECT app_is_sys_admin()));
CREATE POLICY answers_insert ON answers FOR INSERT
    WITH CHECK (student_id = (SELECT app_user_id()));

ALTER TABLE proctor_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY proctor_events_read ON proctor_events FOR SELECT
    USING (student_id = (SELECT app_user_id()) OR org_id IN (SELECT app_staff_org_ids())
           OR student_id IN (SELECT app_child_ids()) OR zone_id IN (SELECT app_admin_zone_ids())
           OR (SELECT app_is_sys_admin()));
CREATE POLICY proctor_events_insert ON proctor_events FOR INSERT
    WITH CHECK (student_id = (SELECT app_user_id()) OR org_id IN (SELECT app_staff_org_ids()));

-- The exams other participants of a conversation are sitting at p_now (NULL: none): the
-- exam chat rule (hub/exams/policy.py) refuses a classmate's message to a student sitting an
-- exam. SECURITY DEFINER because RLS hides other students' attempts from the sender; it
-- answers only a live participant of the conversation, and tells no more than exam ids.
--
-- It runs for every message sent, so it is driven by the conversation's participants, each
-- probing the partial index attempts_student_active (the LATERAL ... OFFSET 0 keeps the
-- planner to that order): its cost follows the conversation's size, not how many students
-- are sitting exams anywhere. Measured with 5,005 attempts in progress system-wide: 0.05 ms
-- a call for a direct conversation, 0.8-0.9 ms for a group of 1,000; driven from the active
-- attempts instead, every call cost ~5 ms. plpgsql, not sql: it keeps the plan between calls,
-- where an sql function was planned again on every call (0.22-0.28 ms for a direct one).
CREATE FUNCTION app_conversation_sitting_exams(p_conversation uuid, p_sender uuid,
                                               p_now timestamptz) RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
BEGIN
    RETURN (
        SELECT array_agg(DISTINCT a.exam_id)
        FROM participants p
        CROSS JOIN LATERAL (
            SELECT exam_id FROM attempts
            WHERE student_id = p.user_id AND status = 'active'
              AND (deadline_at IS NULL OR deadline_at > coalesce(p_now, now()))
            OFFSET 0
        ) a
        WHERE p.conversation_id = p_conversation AND p.user_id <> p_sender
          AND p.left_at IS NULL
          AND EXISTS (SELECT 1 FROM participants me
                      WHERE me.conversation_id = p_conversation
                        AND me.user_id = app_user_id() AND me.left_at IS NULL));
END
$$;

-- Whether anyone may still answer an exam: an active attempt with no deadline or one still
-- ahead. The answer review waits for this to be false (hub/exams/results.py), and students
-- cannot see each other's attempts under RLS, hence SECURITY DEFINER. It tells a member of
-- the exam's organization only "someone is still sitting", nothing about whom.
CREATE FUNCTION app_exam_still_sat(p_exam uuid, p_now timestamptz) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT EXISTS (
        SELECT 1 FROM attempts a JOIN exams e ON e.id = a.exam_id
        WHERE a.exam_id = p_exam AND a.status = 'active'
          AND (a.deadline_at IS NULL OR a.deadline_at > p_now)
          AND e.org_id IN (SELECT app_org_ids()))
$$;
