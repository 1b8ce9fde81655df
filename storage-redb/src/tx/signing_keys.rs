//! Access-token signing keys: a small table read whole, so the one-active,
//! one-pending rule is checked inside the write transaction.

use latchkey::jwt::SigningKeyRecord;

use super::Tx;
use crate::codec::{decode, encode};
use crate::error::Failure;

impl Tx<'_> {
    /// Every signing key, oldest first.
    pub(crate) fn signing_keys(&mut self) -> Result<Vec<SigningKeyRecord>, Failure> {
        read_all(&*self.t.signing_keys()?)
    }

    /// Writes `key` under its `kid`, new or replacing.
    pub(crate) fn put_signing_key(&mut self, key: &SigningKeyRecord) -> Result<(), Failure> {
        self.touch();
        self.t
            .signing_keys()?
            .insert(key.kid.as_str(), encode(key)?.as_slice())?;
        Ok(())
    }
}

/// Every key of `table`, oldest first (then by `kid`).
pub(crate) fn read_all(
    table: &impl redb::ReadableTable<&'static str, &'static [u8]>,
) -> Result<Vec<SigningKeyRecord>, Failure> {
    let mut keys = Vec::new();
    for entry in table.iter()? {
        let (_, v) = entry?;
        keys.push(decode::<SigningKeyRecord>(v.value())?);
    }
    keys.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
    Ok(keys)
}
