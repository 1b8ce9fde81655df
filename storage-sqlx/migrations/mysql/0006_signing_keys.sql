-- Access-token signing keys (RFC 9068, latchkey::storage::SigningKeyStore):
-- the public key, the private key sealed under the server key, and where
-- the key stands in its rotation. `slot` is 'active' or 'pending' while
-- the key is, NULL after: its unique index holds the rule that at most one
-- key is active and one pending (NULLs never collide). One idempotent DDL
-- statement (MySQL DDL commits implicitly). Numbered 0006 in every
-- dialect.
CREATE TABLE IF NOT EXISTS lk_signing_keys (
    kid VARCHAR(64) NOT NULL PRIMARY KEY,
    algorithm VARCHAR(16) NOT NULL,
    public_key BLOB NOT NULL,
    sealed_private BLOB NOT NULL,
    sealed_with BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    activates_at BIGINT NOT NULL,
    state VARCHAR(16) NOT NULL,
    state_since BIGINT NOT NULL,
    slot VARCHAR(16) NULL,
    UNIQUE INDEX lk_signing_keys_slot (slot)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
