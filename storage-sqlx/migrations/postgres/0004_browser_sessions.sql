-- Browser sessions (latchkey::storage::BrowserSessionStore), so instances
-- sharing this database share sessions. Keyed by SHA-256 of the cookie:
-- the table holds no usable session id. Two expiry indexes, one per
-- timeout (idle: last_seen; absolute: created_at), so a purge batch reads
-- only what it removes. A new, empty table: plain CREATE INDEX is fine.
-- Numbered 0004 in every dialect (0003 is the outbox's pending queue on
-- PostgreSQL); each dialect is numbered on its own and gaps are allowed.
CREATE TABLE lk_browser_sessions (
    session_key BYTEA PRIMARY KEY,
    user_id TEXT,
    csrf TEXT NOT NULL,
    binding TEXT NOT NULL,
    flash TEXT,
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
);
CREATE INDEX lk_browser_sessions_idle ON lk_browser_sessions (last_seen);
CREATE INDEX lk_browser_sessions_age ON lk_browser_sessions (created_at);
