-- IRI prefixes stored once (store/prefixes.py): sensor, site, actor_id, object_id and
-- session_id become <column>_prefix (an id of iri_prefixes, NULL: none) and <column>_suffix,
-- the rest of the value. The split is at the last '/' (sensor and site: the whole value is the
-- prefix); a prefix over 512 characters is not stored. Readers select whole values from
-- event_view. The updates mark the analytics summaries dirty: the next refresh rebuilds them
-- (to the same figures). The space the old columns held is reused by new rows; `db vacuum`
-- returns it to the file system.
CREATE TABLE iri_prefixes (id INTEGER PRIMARY KEY, prefix TEXT NOT NULL UNIQUE);
-- generation: moved by every purge of unused prefixes, so processes drop the ids they remember
CREATE TABLE iri_prefix_state (generation INTEGER NOT NULL);
INSERT INTO iri_prefix_state (generation) VALUES (0);
DROP VIEW bi_events;
ALTER TABLE events ADD COLUMN sensor_prefix INTEGER;
ALTER TABLE events ADD COLUMN sensor_suffix TEXT;
ALTER TABLE events ADD COLUMN site_prefix INTEGER;
ALTER TABLE events ADD COLUMN site_suffix TEXT;
ALTER TABLE events ADD COLUMN actor_id_prefix INTEGER;
ALTER TABLE events ADD COLUMN actor_id_suffix TEXT;
ALTER TABLE events ADD COLUMN object_id_prefix INTEGER;
ALTER TABLE events ADD COLUMN object_id_suffix TEXT;
ALTER TABLE events ADD COLUMN session_id_prefix INTEGER;
ALTER TABLE events ADD COLUMN session_id_suffix TEXT;
INSERT INTO iri_prefixes (prefix)
SELECT DISTINCT prefix FROM (
    SELECT sensor AS prefix FROM events
    UNION SELECT site AS prefix FROM events
    UNION SELECT rtrim(actor_id, replace(actor_id, '/', '')) AS prefix FROM events
    UNION SELECT rtrim(object_id, replace(object_id, '/', '')) AS prefix FROM events
    UNION SELECT rtrim(session_id, replace(session_id, '/', '')) AS prefix FROM events
) AS found WHERE prefix <> '' AND length(prefix) <= 512 ORDER BY prefix
ON CONFLICT (prefix) DO NOTHING;
-- one pass: a prefix row exists exactly for the prefixes that qualify (inserted above)
UPDATE events SET
    sensor_prefix = (SELECT id FROM iri_prefixes WHERE prefix = sensor),
    sensor_suffix = CASE WHEN sensor <> '' AND length(sensor) <= 512 THEN '' ELSE sensor END,
    site_prefix = (SELECT id FROM iri_prefixes WHERE prefix = site),
    site_suffix = CASE WHEN site <> '' AND length(site) <= 512 THEN '' ELSE site END,
    actor_id_prefix = (SELECT id FROM iri_prefixes WHERE prefix = rtrim(actor_id, replace(actor_id, '/', ''))),
    actor_id_suffix = CASE WHEN rtrim(actor_id, replace(actor_id, '/', '')) <> '' AND length(rtrim(actor_id, replace(actor_id, '/', ''))) <= 512 THEN substr(actor_id, length(rtrim(actor_id, replace(actor_id, '/', ''))) + 1) ELSE actor_id END,
    object_id_prefix = (SELECT id FROM iri_prefixes WHERE prefix = rtrim(object_id, replace(object_id, '/', ''))),
    object_id_suffix = CASE WHEN rtrim(object_id, replace(object_id, '/', '')) <> '' AND length(rtrim(object_id, replace(object_id, '/', ''))) <= 512 THEN substr(object_id, length(rtrim(object_id, replace(object_id, '/', ''))) + 1) ELSE object_id END,
    session_id_prefix = (SELECT id FROM iri_prefixes WHERE prefix = rtrim(session_id, replace(session_id, '/', ''))),
    session_id_suffix = CASE WHEN rtrim(session_id, replace(session_id, '/', '')) <> '' AND length(rtrim(session_id, replace(session_id, '/', ''))) <= 512 THEN substr(session_id, length(rtrim(session_id, replace(session_id, '/', ''))) + 1) ELSE session_id END;
-- the gradebook's covering index (0004) holds the actor IRI: it holds its two parts instead
DROP INDEX events_grades;
ALTER TABLE events DROP COLUMN sensor;
ALTER TABLE events DROP COLUMN site;
ALTER TABLE events DROP COLUMN actor_id;
ALTER TABLE events DROP COLUMN object_id;
ALTER TABLE events DROP COLUMN session_id;
CREATE INDEX events_grades ON events (
    course_number, gradable_item_pk, user_uuid, user_pk, user_external_id, actor_id_prefix, actor_id_suffix,
    attempt_pk, started_at, event_time, grade_action, score, max_score, received_at
) WHERE type IN ('GradeEvent', 'OutcomeEvent');
CREATE VIEW event_view AS
SELECT e.id, e.event_key, e.raw, e.event_id, e.version, e.type, e.action, e.event_time,
       e.send_time, COALESCE(p_sensor.prefix || e.sensor_suffix, e.sensor_suffix) AS sensor,
       COALESCE(p_site.prefix || e.site_suffix, e.site_suffix) AS site,
       COALESCE(p_actor.prefix || e.actor_id_suffix, e.actor_id_suffix) AS actor_id, e.user_uuid,
       e.user_pk, e.user_external_id, e.course_number, e.course_pk, e.roles,
       COALESCE(p_object.prefix || e.object_id_suffix, e.object_id_suffix) AS object_id,
       e.object_type, e.gradable_item_pk, e.assessment_pk, e.question_pk, e.attempt_pk, e.score,
       e.max_score, e.grade_action, e.question_type,
       COALESCE(p_session.prefix || e.session_id_suffix, e.session_id_suffix) AS session_id,
       e.started_at, e.ended_at, e.duration, e.source, e.received_at, e.original_type, e.raw_codec
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
