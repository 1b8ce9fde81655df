-- Initial schema. Every table is new, so plain CREATE INDEX is fine here;
-- see MIGRATIONS.md for later migrations.
-- Integers are INTEGER (seconds since the epoch, counters); credential
-- columns hold keyed hashes (32 bytes), never a usable token.

CREATE TABLE lk_clients (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    revision INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX lk_clients_owner ON lk_clients (owner, id);

CREATE TABLE lk_challenges (
    hash BLOB PRIMARY KEY,
    binding BLOB NOT NULL,
    request TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX lk_challenges_expiry ON lk_challenges (expires_at);

CREATE TABLE lk_grants (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    resources TEXT NOT NULL,
    remembered_scopes TEXT,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    CONSTRAINT lk_grants_pair UNIQUE (subject, client_id)
);
CREATE INDEX lk_grants_client ON lk_grants (client_id);

CREATE TABLE lk_codes (
    hash BLOB PRIMARY KEY,
    client_id TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    redirect_uri_explicit INTEGER NOT NULL,
    scopes TEXT NOT NULL,
    resources TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    failed_attempts INTEGER NOT NULL,
    status TEXT NOT NULL,
    family_id TEXT
);
CREATE INDEX lk_codes_expiry ON lk_codes (expires_at);

CREATE TABLE lk_families (
    id TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    scopes TEXT NOT NULL,
    resources TEXT NOT NULL,
    generation INTEGER NOT NULL,
    current_hash BLOB NOT NULL,
    current_issued_at INTEGER NOT NULL,
    current_expires_at INTEGER NOT NULL,
    previous_hash BLOB,
    previous_rotated_at INTEGER,
    previous_sealed BLOB,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    revoked_reason TEXT
);
CREATE INDEX lk_families_grant ON lk_families (grant_id);
CREATE INDEX lk_families_client ON lk_families (client_id);
CREATE INDEX lk_families_subject ON lk_families (subject);
CREATE INDEX lk_families_expiry ON lk_families (expires_at);

CREATE TABLE lk_refresh_tokens (
    hash BLOB PRIMARY KEY,
    family_id TEXT NOT NULL,
    generation INTEGER NOT NULL
);
CREATE INDEX lk_refresh_tokens_family ON lk_refresh_tokens (family_id);

CREATE TABLE lk_access_tokens (
    hash BLOB PRIMARY KEY,
    family_id TEXT,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    scopes TEXT NOT NULL,
    resources TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX lk_access_tokens_expiry ON lk_access_tokens (expires_at);

-- The outbox. `lk_event_counter` is the one-row sequence: appenders update
-- it last in their transaction, so its row lock orders them by commit.
CREATE TABLE lk_events (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL
);
CREATE TABLE lk_event_counter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL
);
INSERT INTO lk_event_counter (id, last_seq) VALUES (1, 0);
CREATE TABLE lk_event_cursors (
    consumer TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
