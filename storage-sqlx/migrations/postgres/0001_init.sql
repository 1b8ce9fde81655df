-- Initial schema. Every table is new, so plain CREATE INDEX is fine here;
-- later migrations must use CREATE INDEX CONCURRENTLY (see MIGRATIONS.md).
-- Integers are BIGINT (seconds since the epoch, counters); credential
-- columns hold keyed hashes (32 bytes), never a usable token.

CREATE TABLE lk_clients (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    revision BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX lk_clients_owner ON lk_clients (owner, id);

CREATE TABLE lk_challenges (
    hash BYTEA PRIMARY KEY,
    binding BYTEA NOT NULL,
    request TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX lk_challenges_expiry ON lk_challenges (expires_at);

CREATE TABLE lk_grants (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    resources TEXT NOT NULL,
    remembered_scopes TEXT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    CONSTRAINT lk_grants_pair UNIQUE (subject, client_id)
);
CREATE INDEX lk_grants_client ON lk_grants (client_id);

CREATE TABLE lk_codes (
    hash BYTEA PRIMARY KEY,
    client_id TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    redirect_uri_explicit BOOLEAN NOT NULL,
    scopes TEXT NOT NULL,
    resources TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    failed_attempts BIGINT NOT NULL,
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
    generation BIGINT NOT NULL,
    current_hash BYTEA NOT NULL,
    current_issued_at BIGINT NOT NULL,
    current_expires_at BIGINT NOT NULL,
    previous_hash BYTEA,
    previous_rotated_at BIGINT,
    previous_sealed BYTEA,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_reason TEXT
);
CREATE INDEX lk_families_grant ON lk_families (grant_id);
CREATE INDEX lk_families_client ON lk_families (client_id);
CREATE INDEX lk_families_subject ON lk_families (subject);
CREATE INDEX lk_families_expiry ON lk_families (expires_at);

CREATE TABLE lk_refresh_tokens (
    hash BYTEA PRIMARY KEY,
    family_id TEXT NOT NULL,
    generation BIGINT NOT NULL
);
CREATE INDEX lk_refresh_tokens_family ON lk_refresh_tokens (family_id);

CREATE TABLE lk_access_tokens (
    hash BYTEA PRIMARY KEY,
    family_id TEXT,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    scopes TEXT NOT NULL,
    resources TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX lk_access_tokens_expiry ON lk_access_tokens (expires_at);

-- The outbox. `lk_event_counter` is the one-row sequence: appenders update
-- it last in their transaction, so its row lock orders them by commit.
CREATE TABLE lk_events (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL
);
CREATE TABLE lk_event_counter (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    last_seq BIGINT NOT NULL
);
INSERT INTO lk_event_counter (id, last_seq) VALUES (1, 0);
CREATE TABLE lk_event_cursors (
    consumer TEXT PRIMARY KEY,
    seq BIGINT NOT NULL
);

-- Shared-work consumers (PostgreSQL only): a group's pending deliveries,
-- claimed with FOR UPDATE SKIP LOCKED under a lease.
CREATE TABLE lk_event_groups (
    name TEXT PRIMARY KEY,
    fed_seq BIGINT NOT NULL
);
CREATE TABLE lk_event_deliveries (
    group_name TEXT NOT NULL,
    seq BIGINT NOT NULL,
    leased_until TIMESTAMPTZ NOT NULL,
    attempts BIGINT NOT NULL,
    PRIMARY KEY (group_name, seq)
);
