-- Access-token signing keys (RFC 9068, latchkey::storage::SigningKeyStore):
-- the public key, the private key sealed under the server key, and where
-- the key stands in its rotation. `slot` is 'active' or 'pending' while
-- the key is, NULL after: its unique index holds the rule that at most one
-- key is active and one pending (NULLs never collide). A new, empty table:
-- plain CREATE INDEX is fine. Numbered 0006 in every dialect.
CREATE TABLE lk_signing_keys (
    kid TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    sealed_private BYTEA NOT NULL,
    sealed_with BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    activates_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    state_since BIGINT NOT NULL,
    slot TEXT
);
CREATE UNIQUE INDEX lk_signing_keys_slot ON lk_signing_keys (slot);
