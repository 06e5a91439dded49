-- Key roles: 'write' (what Learn holds: POST /caliper only, today's kind), 'read' (the read API and
-- the dashboard), 'admin' (read, plus administration). identity = 1 lets a read or admin key see
-- people's names and external ids; without it they see pseudonymous ids only.
ALTER TABLE api_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'write' CHECK (role IN ('write', 'read', 'admin'));
ALTER TABLE api_keys ADD COLUMN identity INTEGER NOT NULL DEFAULT 0 CHECK (identity IN (0, 1));
-- Dashboard sign-ins: only a hash of the session token is kept; a session ends at sign-out, at
-- expires_at, or as soon as its key is revoked (key_hash no longer active).
CREATE TABLE dashboard_sessions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
