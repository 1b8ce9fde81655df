-- Browser sessions (latchkey::storage::BrowserSessionStore). Keyed by
-- SHA-256 of the cookie: the table holds no usable session id. Two expiry
-- indexes, one per timeout (idle: last_seen; absolute: created_at). Numbered
-- 0004 to match PostgreSQL, where 0003 is taken.
CREATE TABLE lk_browser_sessions (
    session_key BLOB PRIMARY KEY,
    user_id TEXT,
    csrf TEXT NOT NULL,
    binding TEXT NOT NULL,
    flash TEXT,
    created_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE INDEX lk_browser_sessions_idle ON lk_browser_sessions (last_seen);
CREATE INDEX lk_browser_sessions_age ON lk_browser_sessions (created_at);
