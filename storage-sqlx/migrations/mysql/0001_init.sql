-- Initial schema (MySQL 8, MariaDB 10.11+). Every table is new, so plain
-- CREATE INDEX is fine here; see MIGRATIONS.md for later migrations.
-- MySQL DDL commits implicitly, so this file is idempotent (IF NOT EXISTS,
-- INSERT IGNORE): a run interrupted half-way can simply be repeated.
-- Binary collation: ids compare and sort byte-wise, as on PostgreSQL.
-- Credential columns hold keyed hashes (32 bytes), never a usable token.

CREATE TABLE IF NOT EXISTS lk_clients (
    id VARCHAR(255) NOT NULL PRIMARY KEY,
    owner VARCHAR(255) NOT NULL,
    revision BIGINT NOT NULL,
    body LONGTEXT NOT NULL,
    INDEX lk_clients_owner (owner, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS lk_challenges (
    hash BINARY(32) NOT NULL PRIMARY KEY,
    binding BINARY(32) NOT NULL,
    request LONGTEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    INDEX lk_challenges_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS lk_grants (
    id VARCHAR(255) NOT NULL PRIMARY KEY,
    subject VARCHAR(255) NOT NULL,
    client_id VARCHAR(255) NOT NULL,
    scopes TEXT NOT NULL,
    resources TEXT NOT NULL,
    remembered_scopes TEXT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    UNIQUE KEY lk_grants_pair (subject, client_id),
    INDEX lk_grants_client (client_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS lk_codes (
    hash BINARY(32) NOT NULL PRIMARY KEY,
    client_id VARCHAR(255) NOT NULL,
    grant_id VARCHAR(255) NOT NULL,
    subject VARCHAR(255) NOT NULL,
    redirect_uri TEXT NOT NULL,
    redirect_uri_explicit BOOLEAN NOT NULL,
    scopes TEXT NOT NULL,
    resources TEXT NOT NULL,
    code_challenge VARCHAR(255) NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    failed_attempts BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    family_id VARCHAR(255) NULL,
    INDEX lk_codes_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS lk_families (
    id VARCHAR(255) NOT NULL PRIMARY KEY,
    grant_id VARCHAR(255) NOT NULL,
    client_id VARCHAR(255) NOT NULL,
    subject VARCHAR(255) NOT NULL,
    scopes TEXT NOT NULL,
    resources TEXT NOT NULL,
    generation BIGINT NOT NULL,
    current_hash BINARY(32) NOT NULL,
    current_issued_at BIGINT NOT NULL,
    current_expires_at BIGINT NOT NULL,
    previous_hash BINARY(32) NULL,
    previous_rotated_at BIGINT NULL,
    previous_sealed BLOB NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NULL,
    revoked_reason VARCHAR(32) NULL,
    INDEX lk_families_grant (grant_id),
    INDEX lk_families_client (client_id),
    INDEX lk_families_subject (subject),
    INDEX lk_families_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS lk_refresh_tokens (
    hash BINARY(32) NOT NULL PRIMARY KEY,
    family_id VARCHAR(255) NOT NULL,
    generation BIGINT NOT NULL,
    INDEX lk_refresh_tokens_family (family_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS lk_access_tokens (
    hash BINARY(32) NOT NULL PRIMARY KEY,
    family_id VARCHAR(255) NULL,
    client_id VARCHAR(255) NOT NULL,
    subject VARCHAR(255) NOT NULL,
    scopes TEXT NOT NULL,
    resources TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NULL,
    INDEX lk_access_tokens_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The outbox. `lk_event_counter` is the one-row sequence: appenders update
-- it last in their transaction, so its row lock orders them by commit.
CREATE TABLE IF NOT EXISTS lk_events (
    seq BIGINT NOT NULL PRIMARY KEY,
    at BIGINT NOT NULL,
    kind LONGTEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS lk_event_counter (
    id SMALLINT NOT NULL PRIMARY KEY,
    last_seq BIGINT NOT NULL,
    CHECK (id = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT IGNORE INTO lk_event_counter (id, last_seq) VALUES (1, 0);

CREATE TABLE IF NOT EXISTS lk_event_cursors (
    consumer VARCHAR(255) NOT NULL PRIMARY KEY,
    seq BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
