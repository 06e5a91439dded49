-- events partitioned by the month of event_time, so that retention drops whole months
-- (docs/storage.md, "Month partitions"). A month partition holds exactly the event times that
-- begin with its 'YYYY-MM': bounds compare bytes (COLLATE "C") and the upper bound is the
-- month's last character plus one ('2026-09' … '2026-0:', '2026-12' … '2026-13'), so a time
-- such as '2026-1' or '2026-13-01' can never fall into a month; those and NULL times live in
-- events_default.
--
-- Dedupe moves to event_keys: a unique index on a partitioned table must include the partition
-- key, so event_key uniqueness cannot live on events any more. Every insert claims its keys in
-- event_keys first (ON CONFLICT DO NOTHING RETURNING) in the same transaction; deleting events
-- releases their keys (trigger events_keys_released), dropping a month deletes its keys.
--
-- The old table is copied column for column (LIKE), its indexes and triggers are re-created from
-- their own definitions and the views on it re-created, so columns, indexes or triggers added
-- by earlier migrations carry over. ids keep their values; the new identity continues from the
-- old sequence.
CREATE TABLE event_keys (event_key TEXT PRIMARY KEY);

-- Create the partition of one month ('YYYY-MM') if missing. Rows of that month already in
-- events_default (written while the partition did not exist, e.g. by a writer whose list of
-- partitions predates a retention drop) move into it, so the default partition never blocks it.
-- A new month copies the parent's CHECK constraints (ATTACH requires them). Callers serialise with pg_advisory_xact_lock(hashtext('caliper_stream.partitions.' || current_schema())).
CREATE FUNCTION events_month_partition(month TEXT) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
DECLARE
    name TEXT := 'events_' || replace(month, '-', '_');
    upper_bound TEXT := left(month, 6) || chr(ascii(right(month, 1)) + 1);
BEGIN
    IF month IS NULL OR month !~ '^[0-9]{4}-(0[1-9]|1[0-2])$' THEN
        RAISE EXCEPTION 'not a month (YYYY-MM): %', month;
    END IF;
    IF to_regclass(quote_ident(name)) IS NOT NULL THEN
        RETURN FALSE;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMPRESSION)', name);
    EXECUTE format(
        'WITH moved AS (DELETE FROM events_default WHERE event_time COLLATE "C" >= %L AND event_time COLLATE "C" < %L RETURNING *)'
        ' INSERT INTO %I SELECT * FROM moved', month, upper_bound, name);
    EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, month, upper_bound);
    RETURN TRUE;
END $$;

DO $$
DECLARE
    r RECORD;
    views TEXT[][] := '{}';
    indexes TEXT[] := '{}';
    triggers TEXT[] := '{}';
    old_seq TEXT := pg_get_serial_sequence('events', 'id');
    last_id BIGINT;
BEGIN
    FOR r IN
        SELECT DISTINCT v.oid, v.relname, pg_get_viewdef(v.oid) AS def
        FROM pg_depend d JOIN pg_rewrite w ON w.oid = d.objid JOIN pg_class v ON v.oid = w.ev_class
        WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = 'events'::regclass AND v.oid <> 'events'::regclass
        ORDER BY v.oid
    LOOP
        views := views || ARRAY[[r.relname::TEXT, r.def]];
        EXECUTE format('DROP VIEW %I', r.relname);
    END LOOP;
    SELECT array_agg(pg_get_indexdef(i.indexrelid) ORDER BY i.indexrelid) INTO indexes
    FROM pg_index i WHERE i.indrelid = 'events'::regclass AND NOT i.indisunique;
    SELECT array_agg(pg_get_triggerdef(t.oid) ORDER BY t.oid) INTO triggers
    FROM pg_trigger t WHERE t.tgrelid = 'events'::regclass AND NOT t.tgisinternal;
    last_id := CASE WHEN old_seq IS NOT NULL THEN pg_sequence_last_value(old_seq::regclass) END;

    ALTER TABLE events RENAME TO events_unpartitioned;
    CREATE TABLE events (LIKE events_unpartitioned INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED
        INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING COMMENTS) PARTITION BY RANGE (event_time COLLATE "C");
    CREATE TABLE events_default PARTITION OF events DEFAULT;
    FOR r IN
        SELECT DISTINCT substr(event_time, 1, 7) AS month FROM events_unpartitioned
        WHERE event_time ~ '^[0-9]{4}-(0[1-9]|1[0-2])'
    LOOP
        PERFORM events_month_partition(r.month);
    END LOOP;
    INSERT INTO events OVERRIDING SYSTEM VALUE SELECT * FROM events_unpartitioned ORDER BY id;
    INSERT INTO event_keys (event_key) SELECT event_key FROM events_unpartitioned;
    last_id := greatest(last_id, (SELECT max(id) FROM events_unpartitioned));
    IF last_id IS NOT NULL THEN
        PERFORM setval(pg_get_serial_sequence('events', 'id'), last_id);
    END IF;
    DROP TABLE events_unpartitioned;

    FOR i IN 1 .. coalesce(array_length(indexes, 1), 0) LOOP
        EXECUTE indexes[i];  -- written before the rename: they name events
    END LOOP;
    CREATE INDEX events_id ON events (id);
    FOR i IN 1 .. coalesce(array_length(triggers, 1), 0) LOOP
        EXECUTE triggers[i];
    END LOOP;
    FOR i IN 1 .. coalesce(array_length(views, 1), 0) LOOP
        EXECUTE format('CREATE VIEW %I AS %s', views[i][1], views[i][2]);
    END LOOP;
END $$;

-- Deleting events (forget, retention's batches) releases their keys, so a re-sent event is
-- stored again, as before partitions. Moving rows between partitions (events_month_partition)
-- deletes from a partition directly and fires nothing.
CREATE FUNCTION events_release_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM event_keys k USING gone g WHERE k.event_key = g.event_key;
    RETURN NULL;
END $$;
CREATE TRIGGER events_keys_released AFTER DELETE ON events REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION events_release_keys();
