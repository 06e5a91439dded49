-- The gradebook reads only grade events: a partial covering index holds every column it needs,
-- so one course (or the whole site) is read without touching the events table.
CREATE INDEX events_grades ON events (
    course_number, gradable_item_pk, user_uuid, user_pk, user_external_id, actor_id, attempt_pk,
    started_at, event_time, grade_action, score, max_score, received_at
) WHERE type IN ('GradeEvent', 'OutcomeEvent');
-- Names an admin loads (`caliper-stream names load`): events rarely carry them.
CREATE TABLE course_names (
    course_number TEXT PRIMARY KEY,
    course_pk TEXT,
    name TEXT NOT NULL,
    loaded_at TEXT NOT NULL
);
CREATE TABLE item_names (
    item_pk TEXT PRIMARY KEY,
    course_number TEXT,
    name TEXT NOT NULL,
    max_score REAL,
    loaded_at TEXT NOT NULL
);
-- Personal data lives in this one table only (see caliper_stream.analyse.names).
CREATE TABLE user_names (
    user_key TEXT PRIMARY KEY,
    user_uuid TEXT,
    user_pk TEXT,
    external_id TEXT,
    username TEXT,
    given_name TEXT,
    family_name TEXT,
    email TEXT,
    loaded_at TEXT NOT NULL
);
-- The gradebook's cells, kept current from the grade events (caliper_stream.analyse.gradebook:
-- refresh recomputes every course with grade events above high_water). Derived: drop and
-- rebuild at will. '' stands for "no course"; user_sort is the batch_uid or ''. The primary key
-- is the order reports list cells in (byte order on both databases). Deleting or rewriting events bumps generation,
-- and the next refresh rebuilds every course.
CREATE TABLE gb_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    high_water BIGINT NOT NULL,
    generation BIGINT NOT NULL,
    built_generation BIGINT NOT NULL
);
INSERT INTO gb_state (id, high_water, generation, built_generation) VALUES (1, 0, 0, 0);
CREATE TABLE gb_cells (
    course_number TEXT NOT NULL,
    user_sort TEXT NOT NULL,
    user_key TEXT NOT NULL,
    item_pk TEXT NOT NULL,
    user_uuid TEXT,
    user_pk TEXT,
    user_external_id TEXT,
    score REAL,
    source TEXT,
    max_score REAL,
    status TEXT,
    attempts INTEGER NOT NULL,
    deleted_attempts INTEGER NOT NULL,
    override TEXT,
    changed_at TEXT,
    grade_events INTEGER NOT NULL,
    grade_action TEXT,
    PRIMARY KEY (course_number, user_sort, user_key, item_pk)
) WITHOUT ROWID;
CREATE TRIGGER gb_events_deleted AFTER DELETE ON events BEGIN UPDATE gb_state SET generation = generation + 1; END;
CREATE TRIGGER gb_events_updated AFTER UPDATE ON events BEGIN UPDATE gb_state SET generation = generation + 1; END;
