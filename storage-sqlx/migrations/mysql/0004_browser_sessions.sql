-- Browser sessions (latchkey::storage::BrowserSessionStore). Keyed by
-- SHA-256 of the cookie: the table holds no usable session id. Two expiry
-- indexes, one per timeout (idle: last_seen; absolute: created_at). One
-- idempotent DDL statement (MySQL DDL commits implicitly). Numbered 0004
-- to match PostgreSQL, where 0003 is taken.
CREATE TABLE IF NOT EXISTS lk_browser_sessions (
    session_key BINARY(32) NOT NULL PRIMARY KEY,
    user_id TEXT NULL,
    csrf TEXT NOT NULL,
    binding TEXT NOT NULL,
    flash TEXT NULL,
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    INDEX lk_browser_sessions_idle (last_seen),
    INDEX lk_browser_sessions_age (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
