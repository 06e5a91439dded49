-- Inbox: on SQLite the request bodies live in a file of their own next to the database
-- (`<database>-inbox`, store/inbox_file.py), so that acknowledging never waits for the
-- digester's transactions. The database keeps how far that inbox is digested, updated in the
-- same transaction as the events stored from it: a digest commits its events and its mark, or
-- neither.
CREATE TABLE inbox_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    digested_through INTEGER NOT NULL
);
INSERT INTO inbox_state (id, digested_through) VALUES (1, 0);
