-- an_members (analytics' distinct members) keyed by 16 bytes instead of five text columns
-- (analyse/summary.py member_key: 8 bytes of BLAKE2b of the group, 8 of the member): session
-- members are ~130-character URLs, so the text key made it a sixth of a compressed database.
-- SQL cannot compute the hash, so the old rows go and the summaries are marked dirty: the next
-- refresh rebuilds them from the events (they are derived, and rebuilt the same).
DROP TABLE an_members;
CREATE TABLE an_members (
    key BLOB PRIMARY KEY
) WITHOUT ROWID;
UPDATE an_state SET dirty = 1 WHERE id = 1;
