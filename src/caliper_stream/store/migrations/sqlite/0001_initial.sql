-- Events (raw bytes exactly as received + Learn's key data), dead letters and API keys.
-- Times are ISO 8601 UTC text (YYYY-MM-DDTHH:MM:SS.mmmZ), which sorts chronologically.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    event_key TEXT NOT NULL UNIQUE,
    raw BLOB NOT NULL,
    event_id TEXT,
    version TEXT,
    type TEXT,
    action TEXT,
    event_time TEXT,
    send_time TEXT,
    sensor TEXT,
    site TEXT,
    actor_id TEXT,
    user_uuid TEXT,
    user_pk TEXT,
    user_external_id TEXT,
    course_number TEXT,
    course_pk TEXT,
    roles TEXT,
    object_id TEXT,
    object_type TEXT,
    gradable_item_pk TEXT,
    assessment_pk TEXT,
    question_pk TEXT,
    attempt_pk TEXT,
    score REAL,
    max_score REAL,
    grade_action TEXT,
    question_type TEXT,
    session_id TEXT,
    started_at TEXT,
    ended_at TEXT,
    duration TEXT,
    source TEXT,
    received_at TEXT NOT NULL
);
-- digest: BLAKE2b-128 of source and raw bytes, so that re-importing a file or a retried request
-- does not store the same dead letter twice.
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY,
    raw BLOB NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    reasons TEXT NOT NULL,
    source TEXT,
    received_at TEXT NOT NULL,
    replayed_at TEXT
);
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX events_course_time ON events (course_number, event_time);
CREATE INDEX events_user_time ON events (user_uuid, event_time);
CREATE INDEX events_type_action_time ON events (type, action, event_time);
CREATE INDEX events_time ON events (event_time);
CREATE INDEX events_source_time ON events (source, event_time);
CREATE INDEX dead_letters_pending ON dead_letters (id) WHERE replayed_at IS NULL;
CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;
CREATE INDEX api_keys_hash ON api_keys (key_hash) WHERE revoked_at IS NULL;
