//! Device authorizations (RFC 8628) to `lk_devices` columns and back.

use latchkey::model::{DeviceRecord, DeviceStatus};

use super::{from_json, hash, int, json, parse_scopes, scopes, time, ts, uint, Cols, Q};
use crate::error::{corrupt, DbError};

const DEVICE_PENDING: &str = "pending";
/// `status` of a denied device authorization.
pub(crate) const DEVICE_DENIED: &str = "denied";

/// `lk_devices` columns, in `bind_device` order.
macro_rules! device_cols {
    () => {
        "hash, user_code, client_id, scopes, resources, created_at, expires_at, interval_secs, last_poll, status"
    };
}
pub(crate) use device_cols;

pub(crate) fn device_from(r: &impl Cols) -> Result<DeviceRecord, DbError> {
    let status = match r.text("status")?.as_str() {
        DEVICE_PENDING => DeviceStatus::Pending,
        DEVICE_DENIED => DeviceStatus::Denied,
        other => return Err(corrupt(format!("unknown device status {other}"))),
    };
    Ok(DeviceRecord {
        hash: hash(r.bytes("hash")?)?,
        user_code: hash(r.bytes("user_code")?)?,
        client_id: r.text("client_id")?,
        scopes: parse_scopes(&r.text("scopes")?)?,
        resources: from_json(&r.text("resources")?)?,
        created_at: time(r.i64("created_at")?)?,
        expires_at: time(r.i64("expires_at")?)?,
        interval: uint(r.i64("interval_secs")?, "interval")?,
        last_poll: r.opt_i64("last_poll")?.map(time).transpose()?,
        status,
    })
}

/// Binds the values of `device_cols!()` (in that order).
pub(crate) fn bind_device<'q, DB>(q: Q<'q, DB>, d: &DeviceRecord) -> Result<Q<'q, DB>, DbError>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let status = match d.status {
        DeviceStatus::Pending => DEVICE_PENDING,
        DeviceStatus::Denied => DEVICE_DENIED,
        #[allow(unreachable_patterns)]
        _ => return Err(corrupt("unknown device status")),
    };
    Ok(q.bind(d.hash.0.to_vec())
        .bind(d.user_code.0.to_vec())
        .bind(d.client_id.clone())
        .bind(scopes(&d.scopes))
        .bind(json(&d.resources)?)
        .bind(ts(d.created_at))
        .bind(ts(d.expires_at))
        .bind(int(d.interval))
        .bind(d.last_poll.map(ts))
        .bind(status.to_owned()))
}
