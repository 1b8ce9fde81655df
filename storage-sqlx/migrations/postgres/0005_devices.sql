-- Device authorizations (RFC 8628, latchkey::storage::DeviceStore). Keyed
-- by the keyed hash of the device code; the user code is stored only as a
-- keyed hash too, unique so two live requests never share one. The
-- approval itself is an lk_codes row under the device code's hash (written
-- by the shared approve step). A new, empty table: plain CREATE INDEX is
-- fine. Numbered 0005 in every dialect.
CREATE TABLE lk_devices (
    hash BYTEA PRIMARY KEY,
    user_code BYTEA NOT NULL,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    resources TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    interval_secs BIGINT NOT NULL,
    last_poll BIGINT,
    status TEXT NOT NULL
);
CREATE UNIQUE INDEX lk_devices_user_code ON lk_devices (user_code);
CREATE INDEX lk_devices_expiry ON lk_devices (expires_at);
