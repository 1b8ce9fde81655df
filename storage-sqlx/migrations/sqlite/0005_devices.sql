-- Device authorizations (RFC 8628, latchkey::storage::DeviceStore). Keyed
-- by the keyed hash of the device code; the user code is stored only as a
-- keyed hash too, unique so two live requests never share one. Numbered
-- 0005 in every dialect.
CREATE TABLE lk_devices (
    hash BLOB PRIMARY KEY,
    user_code BLOB NOT NULL,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    resources TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    interval_secs INTEGER NOT NULL,
    last_poll INTEGER,
    status TEXT NOT NULL
);
CREATE UNIQUE INDEX lk_devices_user_code ON lk_devices (user_code);
CREATE INDEX lk_devices_expiry ON lk_devices (expires_at);
