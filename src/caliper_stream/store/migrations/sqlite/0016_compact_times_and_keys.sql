-- Times as integers (docs/storage.md, "Times and keys"): event_time, send_time, started_at,
-- ended_at and received_at hold whole milliseconds since 1970 wherever the text is exactly the
-- canonical YYYY-MM-DDTHH:MM:SS.mmmZ of that instant (the integer formats back to the same text,
-- which an impossible date such as February 30 does not), else the text as sent. Five of the
-- seven indexes end in event_time: 24 bytes of text there are 6 as an integer.
-- A column's declared type decides what SQLite converts on insert, and TEXT would turn the
-- integers back into text, so the table is rebuilt (one pass) with these five columns untyped.
-- The values are converted by the writer's own functions, which the store registers on its
-- write connection (caliper_stored_time, caliper_stored_key: store/times.py, store/keys.py), so
-- rows stored before and after this migration follow one rule.
-- event_view formats the integers again, so every reader sees the times it saw before, and
-- shows the stored event_time as event_at: ranges of times compare with it (store/times.py).
-- The event key is stored as the 16 bytes its 32 hex digits spell (any other key stays text):
-- it is in the table and in its unique index, and the view shows it as text again.
-- bi_grades, which read events, reads event_view now.
DROP VIEW bi_events;
DROP VIEW bi_grades;
DROP VIEW event_view;
CREATE TABLE events_rebuilt (
    id INTEGER PRIMARY KEY,
    event_key NOT NULL UNIQUE,
    raw BLOB NOT NULL,
    event_id TEXT,
    version TEXT,
    type TEXT,
    action TEXT,
    event_time,
    send_time,
    user_uuid TEXT,
    user_pk TEXT,
    user_external_id TEXT,
    course_number TEXT,
    course_pk TEXT,
    roles TEXT,
    object_type TEXT,
    gradable_item_pk TEXT,
    assessment_pk TEXT,
    question_pk TEXT,
    attempt_pk TEXT,
    score REAL,
    max_score REAL,
    grade_action TEXT,
    question_type TEXT,
    started_at,
    ended_at,
    duration TEXT,
    source TEXT,
    received_at NOT NULL,
    original_type TEXT,
    raw_codec INTEGER,
    sensor_prefix INTEGER,
    sensor_suffix TEXT,
    site_prefix INTEGER,
    site_suffix TEXT,
    actor_id_prefix INTEGER,
    actor_id_suffix TEXT,
    object_id_prefix INTEGER,
    object_id_suffix TEXT,
    session_id_prefix INTEGER,
    session_id_suffix TEXT
);
INSERT INTO events_rebuilt (id, event_key, raw, event_id, version, type, action, event_time, send_time, user_uuid, user_pk, user_external_id, course_number, course_pk, roles, object_type, gradable_item_pk, assessment_pk, question_pk, attempt_pk, score, max_score, grade_action, question_type, started_at, ended_at, duration, source, received_at, original_type, raw_codec, sensor_prefix, sensor_suffix, site_prefix, site_suffix, actor_id_prefix, actor_id_suffix, object_id_prefix, object_id_suffix, session_id_prefix, session_id_suffix)
SELECT
    id,
    caliper_stored_key(event_key),
    raw,
    event_id,
    version,
    type,
    action,
    caliper_stored_time(event_time),
    caliper_stored_time(send_time),
    user_uuid,
    user_pk,
    user_external_id,
    course_number,
    course_pk,
    roles,
    object_type,
    gradable_item_pk,
    assessment_pk,
    question_pk,
    attempt_pk,
    score,
    max_score,
    grade_action,
    question_type,
    caliper_stored_time(started_at),
    caliper_stored_time(ended_at),
    duration,
    source,
    caliper_stored_time(received_at),
    original_type,
    raw_codec,
    sensor_prefix,
    sensor_suffix,
    site_prefix,
    site_suffix,
    actor_id_prefix,
    actor_id_suffix,
    object_id_prefix,
    object_id_suffix,
    session_id_prefix,
    session_id_suffix
FROM events ORDER BY id;
DROP TABLE events;
ALTER TABLE events_rebuilt RENAME TO events;
CREATE INDEX events_course_time ON events (course_number, event_time);
CREATE INDEX events_user_time ON events (user_uuid, event_time);
CREATE INDEX events_type_action_time ON events (type, action, event_time);
CREATE INDEX events_time ON events (event_time);
CREATE INDEX events_source_time ON events (source, event_time);
CREATE INDEX events_grades ON events (
    course_number, gradable_item_pk, user_uuid, user_pk, user_external_id, actor_id_prefix, actor_id_suffix,
    attempt_pk, started_at, event_time, grade_action, score, max_score, received_at
) WHERE type IN ('GradeEvent', 'OutcomeEvent');
CREATE TRIGGER gb_events_deleted AFTER DELETE ON events BEGIN UPDATE gb_state SET generation = generation + 1; END;
CREATE TRIGGER gb_events_updated AFTER UPDATE ON events BEGIN UPDATE gb_state SET generation = generation + 1; END;
CREATE TRIGGER an_events_deleted AFTER DELETE ON events
BEGIN UPDATE an_state SET dirty = 1 WHERE dirty = 0; END;
CREATE TRIGGER an_events_updated AFTER UPDATE ON events
BEGIN UPDATE an_state SET dirty = 1 WHERE dirty = 0; END;
CREATE VIEW event_view AS
SELECT e.id, CASE WHEN typeof(e.event_key) = 'blob' THEN lower(hex(e.event_key)) ELSE e.event_key END AS event_key,
       e.raw, e.event_id, e.version, e.type, e.action,
       CASE WHEN typeof(e.event_time) = 'integer' THEN strftime('%Y-%m-%dT%H:%M:%fZ', e.event_time / 1000.0, 'unixepoch') ELSE e.event_time END AS event_time,
       CASE WHEN typeof(e.send_time) = 'integer' THEN strftime('%Y-%m-%dT%H:%M:%fZ', e.send_time / 1000.0, 'unixepoch') ELSE e.send_time END AS send_time,
       COALESCE(p_sensor.prefix || e.sensor_suffix, e.sensor_suffix) AS sensor,
       COALESCE(p_site.prefix || e.site_suffix, e.site_suffix) AS site,
       COALESCE(p_actor.prefix || e.actor_id_suffix, e.actor_id_suffix) AS actor_id, e.user_uuid,
       e.user_pk, e.user_external_id, e.course_number, e.course_pk, e.roles,
       COALESCE(p_object.prefix || e.object_id_suffix, e.object_id_suffix) AS object_id,
       e.object_type, e.gradable_item_pk, e.assessment_pk, e.question_pk, e.attempt_pk, e.score,
       e.max_score, e.grade_action, e.question_type,
       COALESCE(p_session.prefix || e.session_id_suffix, e.session_id_suffix) AS session_id,
       CASE WHEN typeof(e.started_at) = 'integer' THEN strftime('%Y-%m-%dT%H:%M:%fZ', e.started_at / 1000.0, 'unixepoch') ELSE e.started_at END AS started_at,
       CASE WHEN typeof(e.ended_at) = 'integer' THEN strftime('%Y-%m-%dT%H:%M:%fZ', e.ended_at / 1000.0, 'unixepoch') ELSE e.ended_at END AS ended_at,
       e.duration, e.source,
       CASE WHEN typeof(e.received_at) = 'integer' THEN strftime('%Y-%m-%dT%H:%M:%fZ', e.received_at / 1000.0, 'unixepoch') ELSE e.received_at END AS received_at,
       e.original_type, e.raw_codec, e.event_time AS event_at
FROM events AS e
LEFT JOIN iri_prefixes AS p_sensor ON p_sensor.id = e.sensor_prefix
LEFT JOIN iri_prefixes AS p_site ON p_site.id = e.site_prefix
LEFT JOIN iri_prefixes AS p_actor ON p_actor.id = e.actor_id_prefix
LEFT JOIN iri_prefixes AS p_object ON p_object.id = e.object_id_prefix
LEFT JOIN iri_prefixes AS p_session ON p_session.id = e.session_id_prefix;
CREATE VIEW bi_events AS
SELECT id, event_id, version, type, action, event_time, send_time, sensor, site, actor_id,
       user_uuid, user_pk, user_external_id, course_number, course_pk, roles, object_id,
       object_type, gradable_item_pk, assessment_pk, question_pk, attempt_pk, score, max_score,
       grade_action, question_type, session_id, started_at, ended_at, duration, source,
       received_at, substr(event_time, 1, 10) AS event_day
FROM event_view;
CREATE VIEW bi_grades AS
SELECT id, event_time, received_at, course_number, user_uuid, user_pk, user_external_id,
       gradable_item_pk, attempt_pk, score, max_score,
       CASE WHEN max_score > 0 THEN 100.0 * score / max_score END AS score_pct, grade_action, type
FROM event_view WHERE type IN ('GradeEvent', 'OutcomeEvent');
