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
-- an_members (analytics' distinct members, migration 0005) was a rowid table plus the index of
-- its primary key, both holding every key in full (session ids are ~130-character URLs): 27 %
-- of a compressed database. WITHOUT ROWID it is the one b-tree. Rows are copied, so nothing
-- has to be rebuilt.
CREATE TABLE an_members_by_key (
    kind TEXT NOT NULL,
    course_number TEXT NOT NULL,
    bucket TEXT NOT NULL,
    what TEXT NOT NULL,
    member TEXT NOT NULL,
    PRIMARY KEY (kind, course_number, bucket, what, member)
) WITHOUT ROWID;
INSERT INTO an_members_by_key SELECT kind, course_number, bucket, what, member FROM an_members;
DROP TABLE an_members;
ALTER TABLE an_members_by_key RENAME TO an_members;
