-- Compression of events' raw bytes with zstd dictionaries trained on the store's own events
-- (store/codec.py). raw_codec NULL: raw holds the bytes themselves (every row stored before);
-- else raw is a zstd frame made with dictionaries.id = raw_codec. A dictionary is deleted only
-- once no row names it: rows of every generation stay readable. ratio: how well the
-- dictionary compressed the events held out of its training (the baseline for retraining).
CREATE TABLE dictionaries (
    id INTEGER PRIMARY KEY,
    dictionary BLOB NOT NULL,
    created_at TEXT NOT NULL,
    trained_on INTEGER NOT NULL,
    ratio REAL NOT NULL
);
ALTER TABLE events ADD COLUMN raw_codec INTEGER;
