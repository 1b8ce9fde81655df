//! Access-token signing keys to `lk_signing_keys` columns and back.

use latchkey::jwt::{SigningAlgorithm, SigningKeyRecord, SigningKeyState};

use super::{int, time, ts, Cols, Q};
use crate::error::{corrupt, DbError};

/// `lk_signing_keys` columns, in `bind_signing_key` order (`slot` last).
macro_rules! signing_key_cols {
    () => {
        "kid, algorithm, public_key, sealed_private, sealed_with, created_at, activates_at, state, state_since, slot"
    };
}
pub(crate) use signing_key_cols;

pub(crate) fn signing_key_from(r: &impl Cols) -> Result<SigningKeyRecord, DbError> {
    let algorithm = SigningAlgorithm::from_name(&r.text("algorithm")?)
        .ok_or_else(|| corrupt("unknown signing algorithm"))?;
    let state = SigningKeyState::parse(&r.text("state")?)
        .ok_or_else(|| corrupt("unknown signing key state"))?;
    let sealed_with =
        u8::try_from(r.i64("sealed_with")?).map_err(|_| corrupt("server key id out of range"))?;
    Ok(SigningKeyRecord {
        kid: r.text("kid")?,
        algorithm,
        public_key: r.bytes("public_key")?,
        sealed_private: r.bytes("sealed_private")?,
        sealed_with,
        created_at: time(r.i64("created_at")?)?,
        activates_at: time(r.i64("activates_at")?)?,
        state,
        state_since: time(r.i64("state_since")?)?,
    })
}

/// Binds the values of `signing_key_cols!()` (in that order).
pub(crate) fn bind_signing_key<'q, DB>(q: Q<'q, DB>, k: &SigningKeyRecord) -> Q<'q, DB>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    q.bind(k.kid.clone())
        .bind(k.algorithm.as_str().to_owned())
        .bind(k.public_key.clone())
        .bind(k.sealed_private.clone())
        .bind(int(u64::from(k.sealed_with)))
        .bind(ts(k.created_at))
        .bind(ts(k.activates_at))
        .bind(k.state.as_str().to_owned())
        .bind(ts(k.state_since))
        .bind(k.state.slot().map(str::to_owned))
}
