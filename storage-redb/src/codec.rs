//! How records and index keys become bytes.
//!
//! A stored value is one of two encodings, told apart by its first byte:
//! - **compact** ([`COMPACT_V1`], then the fields of the record's layout
//!   in [`records`], written with [`wire`]): the records written per
//!   token or per consent (codes, challenges, grants, families, access
//!   tokens, outbox events). Hashes are 32 raw bytes, timestamps and
//!   counters variable-length integers, strings length-prefixed; a family
//!   after one rotation takes about a third of its JSON size.
//! - **JSON** (always starts with `{`): everything else (clients, device
//!   authorizations, signing keys, browser sessions: few, or rewritten
//!   rarely), every record of a schema-5 file, and any value whose
//!   compact layout cannot express it (an enum variant added to the core
//!   after the layout was numbered).
//!
//! Reading accepts both for every table, so a file written before the
//! compact layout existed needs no rewrite: its records are read as JSON
//! and come back compact the next time they are written, and purges
//! remove the rest as they expire.
//!
//! Expiry index keys are `expires_at` big-endian followed by the record
//! key, so byte order is time order and a purge is one range scan from the
//! start.

use latchkey::clock::Timestamp;
use latchkey::web::{CsrfToken, SessionKey, SessionRecord};
use serde::{Deserialize, Serialize};

use crate::error::Failure;

mod records;
mod wire;

pub(crate) use records::Record;

/// First byte of a value in version 1 of the compact layout. JSON values
/// start with `{`, so the two never meet.
pub(crate) const COMPACT_V1: u8 = 0x01;

/// A browser session as stored under its key (the key is the table key,
/// not repeated here). `latchkey::web::SessionRecord` is not serde-ready
/// (its CSRF token type keeps the secret out of `Debug` and serialisers),
/// so the stored shape is spelled out.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredSession {
    pub(crate) user: Option<String>,
    pub(crate) csrf: String,
    pub(crate) binding: String,
    pub(crate) flash: Option<String>,
    pub(crate) created_at: Timestamp,
    pub(crate) last_seen: Timestamp,
}

impl StoredSession {
    /// The stored shape of `r`.
    pub(crate) fn of(r: &SessionRecord) -> Self {
        StoredSession {
            user: r.user.clone(),
            csrf: r.csrf.expose().to_owned(),
            binding: r.binding.clone(),
            flash: r.flash.clone(),
            created_at: r.created_at,
            last_seen: r.last_seen,
        }
    }

    /// The record under `key`.
    pub(crate) fn into_record(self, key: [u8; 32]) -> SessionRecord {
        SessionRecord {
            key: SessionKey(key),
            user: self.user,
            csrf: CsrfToken::new(self.csrf),
            binding: self.binding,
            flash: self.flash,
            created_at: self.created_at,
            last_seen: self.last_seen,
        }
    }
}

/// A record as stored: compact where its type has a layout for it, JSON
/// otherwise.
pub(crate) fn encode<T: Record>(value: &T) -> Result<Vec<u8>, Failure> {
    let mut w = wire::Writer(Vec::with_capacity(256));
    w.u8(COMPACT_V1);
    if value.put(&mut w) {
        return Ok(w.0);
    }
    Ok(serde_json::to_vec(value)?)
}

/// A stored record, in either encoding.
pub(crate) fn decode<T: Record>(bytes: &[u8]) -> Result<T, Failure> {
    match bytes.split_first() {
        Some((&COMPACT_V1, rest)) => {
            let mut r = wire::Reader(rest);
            let v = T::get(&mut r)?;
            r.finish()?;
            Ok(v)
        }
        _ => Ok(serde_json::from_slice(bytes)?),
    }
}

/// Expiry index key: `expires_at` (big-endian) ++ `key`.
pub(crate) fn expiry_key(expires_at: Timestamp, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + key.len());
    k.extend_from_slice(&expires_at.0.to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// The first expiry key that is *not* due at `now` (records with
/// `expires_at <= now` sort before it); `None` when everything is due.
pub(crate) fn expiry_bound(now: Timestamp) -> Option<[u8; 8]> {
    now.0.checked_add(1).map(u64::to_be_bytes)
}

/// The record key part of an expiry index key.
pub(crate) fn expiry_record_key(index_key: &[u8]) -> Result<&[u8], Failure> {
    index_key
        .get(8..)
        .ok_or_else(|| Failure::Corrupt("expiry index key shorter than its timestamp".into()))
}

/// A 32-byte token hash from the record-key part of an expiry key.
pub(crate) fn hash_key(bytes: &[u8]) -> Result<[u8; 32], Failure> {
    bytes
        .try_into()
        .map_err(|_| Failure::Corrupt("expiry index key does not end in a token hash".into()))
}

/// A string id from the record-key part of an expiry key.
pub(crate) fn id_key(bytes: &[u8]) -> Result<&str, Failure> {
    std::str::from_utf8(bytes)
        .map_err(|_| Failure::Corrupt("expiry index key does not end in a UTF-8 id".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_keys_sort_by_time_then_key() {
        let a = expiry_key(Timestamp(5), b"zzz");
        let b = expiry_key(Timestamp(6), b"aaa");
        let c = expiry_key(Timestamp(256), b"aaa");
        assert!(a < b && b < c, "big-endian keeps numeric order");
        let bound = expiry_bound(Timestamp(6)).expect("bound");
        assert!(a.as_slice() < &bound[..] && b.as_slice() < &bound[..]);
        assert!(c.as_slice() >= &bound[..]);
        assert_eq!(expiry_bound(Timestamp(u64::MAX)), None);
        assert_eq!(expiry_record_key(&b).expect("key"), b"aaa");
    }
}
