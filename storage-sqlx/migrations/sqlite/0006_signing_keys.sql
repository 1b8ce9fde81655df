-- Access-token signing keys (RFC 9068, latchkey::storage::SigningKeyStore):
-- the public key, the private key sealed under the server key, and where
-- the key stands in its rotation. `slot` is 'active' or 'pending' while
-- the key is, NULL after: its unique index holds the rule that at most one
-- key is active and one pending (NULLs never collide). Numbered 0006 in
-- every dialect.
CREATE TABLE lk_signing_keys (
    kid TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    public_key BLOB NOT NULL,
    sealed_private BLOB NOT NULL,
    sealed_with INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    activates_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    state_since INTEGER NOT NULL,
    slot TEXT
);
CREATE UNIQUE INDEX lk_signing_keys_slot ON lk_signing_keys (slot);
