-- Device authorizations (RFC 8628, latchkey::storage::DeviceStore). Keyed
-- by the keyed hash of the device code; the user code is stored only as a
-- keyed hash too, unique so two live requests never share one. One
-- idempotent DDL statement (MySQL DDL commits implicitly). Numbered 0005
-- in every dialect.
CREATE TABLE IF NOT EXISTS lk_devices (
    hash BINARY(32) NOT NULL PRIMARY KEY,
    user_code BINARY(32) NOT NULL,
    client_id VARCHAR(255) NOT NULL,
    scopes TEXT NOT NULL,
    resources TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    interval_secs BIGINT NOT NULL,
    last_poll BIGINT NULL,
    status VARCHAR(16) NOT NULL,
    UNIQUE INDEX lk_devices_user_code (user_code),
    INDEX lk_devices_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
