-- Events per UTC day of eventTime, course, source and type (the read API's /api/daily), kept by
-- the same incremental refresh as the other an_* summaries; '' stands for "none" in keys.
CREATE TABLE an_daily (
    day TEXT NOT NULL,
    course_number TEXT NOT NULL,
    source TEXT NOT NULL,
    type TEXT NOT NULL,
    events BIGINT NOT NULL,
    PRIMARY KEY (day, course_number, source, type)
);
-- a store whose summaries were already built counts its folded events here once
INSERT INTO an_daily (day, course_number, source, type, events)
SELECT substr(event_time, 1, 10), COALESCE(course_number, ''), COALESCE(source, ''), COALESCE(type, ''), count(*)
FROM events
WHERE event_time IS NOT NULL AND id <= (SELECT high_water FROM an_state WHERE id = 1)
GROUP BY substr(event_time, 1, 10), COALESCE(course_number, ''), COALESCE(source, ''), COALESCE(type, '');
-- Tests (kind 'test': its figures and its questions') and courses (kind 'qtype', assessment '')
-- whose cached figures a refresh must recompute: chunks note them, the refresh recomputes each
-- once at its end, so building the summaries of a term reads every attempt row once.
CREATE TABLE an_stale (
    kind TEXT NOT NULL,
    course_number TEXT NOT NULL,
    assessment_pk TEXT NOT NULL,
    PRIMARY KEY (kind, course_number, assessment_pk)
);
