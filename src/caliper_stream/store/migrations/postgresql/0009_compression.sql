-- Compression of events' raw bytes with zstd dictionaries trained on the store's own events
-- (store/codec.py). raw_codec NULL: raw holds the bytes themselves (every row stored before);
-- else raw is a zstd frame made with dictionaries.id = raw_codec. A dictionary is deleted only
-- once no row names it: rows of every generation stay readable. ratio: how well the
-- dictionary compressed the events held out of its training (the baseline for retraining).
CREATE TABLE dictionaries (
    id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dictionary BYTEA NOT NULL,
    created_at TEXT NOT NULL,
    trained_on INTEGER NOT NULL,
    ratio DOUBLE PRECISION NOT NULL
);
-- Adding a nullable column rewrites nothing. EXTERNAL: raw values TOAST moves out of line are
-- not compressed again by pglz (zstd frames do not shrink; plain rows are compressed by the
-- codec, `caliper-stream storage compress` for those stored before).
ALTER TABLE events ADD COLUMN raw_codec INTEGER;
ALTER TABLE events ALTER COLUMN raw SET STORAGE EXTERNAL;
-- (SQLite also turns an_members into a WITHOUT ROWID table here; PostgreSQL has no equivalent:
-- a heap and its primary key index.)
