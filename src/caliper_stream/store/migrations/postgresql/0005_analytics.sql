-- PostgreSQL twin of sqlite/0005_analytics.sql.
-- Analytics summaries (analyse/summary.py keeps them current) and the BI views (docs/bi.md).
--
-- Every an_* table is derived from events: refresh() folds the events with id > high_water
-- into them, so a report reads thousands of summary rows instead of millions of events. They
-- can be dropped and rebuilt at any time (an_state.dirty = 1). '' stands for "none" in keys.
-- high_water: the largest events.id folded in; dirty: rebuild on the next refresh; tz: the site's
-- time zone that days and hours of the week are counted in
CREATE TABLE an_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    high_water BIGINT NOT NULL,
    dirty INTEGER NOT NULL,
    tz TEXT NOT NULL DEFAULT 'UTC',
    refreshed_at TEXT
);
INSERT INTO an_state (id, high_water, dirty) VALUES (1, 0, 0);
-- Deleting or rewriting stored events (forget, retention, a data migration) invalidates the
-- summaries; the next refresh rebuilds them. Inserts, the ingest path, fire nothing.
CREATE FUNCTION an_events_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE an_state SET dirty = 1 WHERE dirty = 0; RETURN NULL; END $$;
CREATE TRIGGER an_events_deleted AFTER DELETE ON events FOR EACH STATEMENT EXECUTE FUNCTION an_events_changed();
CREATE TRIGGER an_events_updated AFTER UPDATE ON events FOR EACH STATEMENT EXECUTE FUNCTION an_events_changed();
-- users as the events name them (user_key: uuid, else pk1, else the actor IRI)
CREATE TABLE an_users (
    user_key TEXT PRIMARY KEY,
    user_uuid TEXT,
    user_pk TEXT,
    user_external_id TEXT
);
CREATE INDEX an_users_pk ON an_users (user_pk);
CREATE INDEX an_users_external ON an_users (user_external_id);
-- Activity counts per group: kind course (bucket ''), day (local YYYY-MM-DD), how (hour of the
-- week, local: 0 = Monday 00:00) or user (bucket: user_key). users, sessions and days are
-- distinct counts, kept exact by an_members: a member is counted when its row is first inserted.
CREATE TABLE an_counts (
    kind TEXT NOT NULL,
    course_number TEXT NOT NULL,
    bucket TEXT NOT NULL,
    events BIGINT NOT NULL,
    users BIGINT NOT NULL,
    sessions BIGINT NOT NULL,
    days BIGINT NOT NULL,
    first_time TEXT NOT NULL,
    last_time TEXT NOT NULL,
    PRIMARY KEY (kind, course_number, bucket)
);
-- what: u (user), s (session) or d (local day) counted in the an_counts group
CREATE TABLE an_members (
    kind TEXT NOT NULL,
    course_number TEXT NOT NULL,
    bucket TEXT NOT NULL,
    what TEXT NOT NULL,
    member TEXT NOT NULL,
    PRIMARY KEY (kind, course_number, bucket, what, member)
);
CREATE TABLE an_lti (
    course_number TEXT NOT NULL,
    tool TEXT NOT NULL,
    user_key TEXT NOT NULL,
    launches BIGINT NOT NULL,
    first_time TEXT NOT NULL,
    last_time TEXT NOT NULL,
    PRIMARY KEY (course_number, tool, user_key)
);
CREATE TABLE an_views (
    course_number TEXT NOT NULL,
    content_id TEXT NOT NULL,
    user_key TEXT NOT NULL,
    views BIGINT NOT NULL,
    first_time TEXT NOT NULL,
    last_time TEXT NOT NULL,
    PRIMARY KEY (course_number, content_id, user_key)
);
CREATE TABLE an_sources (
    source TEXT PRIMARY KEY,
    events BIGINT NOT NULL,
    last_event_time TEXT NOT NULL,
    last_received_at TEXT NOT NULL
);
-- one row per test attempt (attempt_key: the attempt pk, else the user)
CREATE TABLE an_test_attempts (
    course_number TEXT NOT NULL,
    assessment_pk TEXT NOT NULL,
    attempt_key TEXT NOT NULL,
    user_key TEXT NOT NULL,
    gradable_item_pk TEXT NOT NULL,
    started_at TEXT,
    submitted_at TEXT,
    PRIMARY KEY (course_number, assessment_pk, attempt_key)
);
CREATE INDEX an_test_attempts_user ON an_test_attempts (user_key);
CREATE INDEX an_test_attempts_item ON an_test_attempts (gradable_item_pk, attempt_key);
-- the latest scoring grade event of each attempt (feedback never scores)
CREATE TABLE an_scores (
    gradable_item_pk TEXT NOT NULL,
    attempt_pk TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    max_score DOUBLE PRECISION,
    graded_at TEXT NOT NULL,
    event_id BIGINT NOT NULL,
    deleted INTEGER NOT NULL,
    PRIMARY KEY (gradable_item_pk, attempt_pk)
);
-- one row per question attempt
CREATE TABLE an_question_attempts (
    course_number TEXT NOT NULL,
    assessment_pk TEXT NOT NULL,
    question_pk TEXT NOT NULL,
    attempt_key TEXT NOT NULL,
    user_key TEXT NOT NULL,
    question_type TEXT NOT NULL,
    started_at TEXT,
    completed_at TEXT,
    PRIMARY KEY (course_number, assessment_pk, question_pk, attempt_key)
);
CREATE INDEX an_question_attempts_user ON an_question_attempts (user_key);
-- figures that need every row of a group (medians, percentiles, histograms), recomputed as JSON
-- for the groups a refresh touched. kind: test (key ''), question (key: question pk),
-- qtype (assessment '', key: question type)
CREATE TABLE an_figures (
    kind TEXT NOT NULL,
    course_number TEXT NOT NULL,
    assessment_pk TEXT NOT NULL,
    item_key TEXT NOT NULL,
    figures TEXT NOT NULL,
    PRIMARY KEY (kind, course_number, assessment_pk, item_key)
);
-- BI views: the key data without raw bytes, and the assessment and grade facts (docs/bi.md)
CREATE VIEW bi_events AS
SELECT id, event_id, version, type, action, event_time, send_time, sensor, site, actor_id,
       user_uuid, user_pk, user_external_id, course_number, course_pk, roles, object_id,
       object_type, gradable_item_pk, assessment_pk, question_pk, attempt_pk, score, max_score,
       grade_action, question_type, session_id, started_at, ended_at, duration, source,
       received_at, substr(event_time, 1, 10) AS event_day
FROM events;
CREATE VIEW bi_grades AS
SELECT id, event_time, received_at, course_number, user_uuid, user_pk, user_external_id,
       gradable_item_pk, attempt_pk, score, max_score,
       CASE WHEN max_score > 0 THEN 100.0 * score / max_score END AS score_pct, grade_action, type
FROM events WHERE type IN ('GradeEvent', 'OutcomeEvent');
CREATE VIEW bi_test_attempts AS
SELECT a.course_number, a.assessment_pk, a.gradable_item_pk, a.attempt_key, a.user_key,
       u.user_pk, u.user_external_id, a.started_at, a.submitted_at, s.score, s.max_score,
       s.graded_at, s.deleted
FROM an_test_attempts AS a
LEFT JOIN an_users AS u ON u.user_key = a.user_key
LEFT JOIN an_scores AS s ON s.gradable_item_pk = a.gradable_item_pk AND s.attempt_pk = a.attempt_key;
CREATE VIEW bi_question_attempts AS
SELECT q.course_number, q.assessment_pk, q.question_pk, q.question_type, q.attempt_key,
       q.user_key, u.user_pk, u.user_external_id, q.started_at, q.completed_at
FROM an_question_attempts AS q
LEFT JOIN an_users AS u ON u.user_key = q.user_key;
CREATE VIEW bi_activity_daily AS
SELECT course_number, bucket AS day, events, users, sessions, first_time, last_time
FROM an_counts WHERE kind = 'day';
