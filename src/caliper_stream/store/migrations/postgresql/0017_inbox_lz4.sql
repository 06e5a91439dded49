-- Inbox bodies compressed by lz4 instead of pglz when TOAST stores them (docs/server.md, "The
-- inbox"). A body is a whole envelope (Learn's 100-event ones ≈ 500 KB), well above the TOAST
-- threshold, and pglz is slow: with lz4, PostgreSQL's CPU per stored event of Learn's envelopes fell
-- from 59-60 to 35-36 µs and `serve` acknowledged 1.7-1.9 × as many of them (docs/server.md,
-- "Compressed bodies"). Only new values are compressed so; bodies already waiting are read as
-- they are. A server built without lz4 keeps pglz (the statement is then refused as not
-- supported, and skipped).
DO $$
BEGIN
    EXECUTE 'ALTER TABLE inbox ALTER COLUMN body SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this PostgreSQL has no lz4: inbox bodies stay compressed by pglz';
END
$$;
