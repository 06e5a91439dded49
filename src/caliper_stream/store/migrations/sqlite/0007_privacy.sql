-- Privacy: the store's mode (clear or pseudonymous), the optional identity table (pseudonym →
-- real identifier, only when the institution keeps it), retention policies per event type and
-- the audit trail of reads of personal data, erasures and retention runs.
CREATE TABLE privacy_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- person: the pseudonym of the person's uuid (else of the first identifier seen), grouping
-- every identifier of one person so that forget and lookup find them all.
CREATE TABLE identities (
    pseudonym TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    person TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (pseudonym, kind)
);
CREATE INDEX identities_person ON identities (person);
CREATE INDEX identities_value ON identities (value);
CREATE TABLE retention_policies (
    event_type TEXT PRIMARY KEY,
    days INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
-- actor: the API key name or the operator; never the person a record is about.
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    what TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX audit_at ON audit (at);
