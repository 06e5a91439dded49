-- event_view shows the stored event_time as event_at, which ranges of times compare with. On
-- SQLite it is the integer the time is stored as (migration 0016 there); here the text itself,
-- since the month partitions are ranges of that text (store/times.py).
CREATE OR REPLACE VIEW event_view AS
SELECT e.id, e.event_key, e.raw, e.event_id, e.version, e.type, e.action, e.event_time,
       e.send_time, COALESCE(p_sensor.prefix || e.sensor_suffix, e.sensor_suffix) AS sensor,
       COALESCE(p_site.prefix || e.site_suffix, e.site_suffix) AS site,
       COALESCE(p_actor.prefix || e.actor_id_suffix, e.actor_id_suffix) AS actor_id, e.user_uuid,
       e.user_pk, e.user_external_id, e.course_number, e.course_pk, e.roles,
       COALESCE(p_object.prefix || e.object_id_suffix, e.object_id_suffix) AS object_id,
       e.object_type, e.gradable_item_pk, e.assessment_pk, e.question_pk, e.attempt_pk, e.score,
       e.max_score, e.grade_action, e.question_type,
       COALESCE(p_session.prefix || e.session_id_suffix, e.session_id_suffix) AS session_id,
       e.started_at, e.ended_at, e.duration, e.source, e.received_at, e.original_type, e.raw_codec, e.event_time AS event_at
FROM events AS e
LEFT JOIN iri_prefixes AS p_sensor ON p_sensor.id = e.sensor_prefix
LEFT JOIN iri_prefixes AS p_site ON p_site.id = e.site_prefix
LEFT JOIN iri_prefixes AS p_actor ON p_actor.id = e.actor_id_prefix
LEFT JOIN iri_prefixes AS p_object ON p_object.id = e.object_id_prefix
LEFT JOIN iri_prefixes AS p_session ON p_session.id = e.session_id_prefix;
