-- Inbox: request bodies exactly as received (gzip kept as sent), acknowledged once durable
-- here and digested behind into events and dead letters (then deleted). events: how many
-- the HTTP layer counted (the backlog's unit); protected: the body is already pseudonymised.
-- Replicas claim rows with SELECT ... FOR UPDATE SKIP LOCKED, in id order.
CREATE TABLE inbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    body BYTEA NOT NULL,
    source TEXT NOT NULL,
    received_at TEXT NOT NULL,
    content_type TEXT NOT NULL DEFAULT '',
    events INTEGER NOT NULL DEFAULT 0,
    protected INTEGER NOT NULL DEFAULT 0
);
