//! Expiry-driven removal: each kind is drained from the front of its
//! expiry index.

use latchkey::clock::Timestamp;
use latchkey::model::{AccessTokenRecord, DeviceRecord};
use redb::ReadableTable;

use super::{Expiry, Tx};
use crate::codec::{decode, expiry_bound, expiry_record_key, hash_key, id_key};
use crate::error::Failure;

impl Tx<'_> {
    /// Removes up to `limit` challenges due at `now`; returns how many.
    pub(crate) fn purge_challenges(
        &mut self,
        now: Timestamp,
        limit: usize,
    ) -> Result<u64, Failure> {
        let due = take_due(self.t.challenge_expiry()?, now, limit)?;
        self.changed |= !due.is_empty();
        let mut n = 0;
        for key in due {
            let hash = hash_key(expiry_record_key(&key)?)?;
            n += u64::from(self.t.challenges()?.remove(&hash)?.is_some());
        }
        Ok(n)
    }

    /// Removes up to `limit` codes due at `now`; returns how many.
    pub(crate) fn purge_codes(&mut self, now: Timestamp, limit: usize) -> Result<u64, Failure> {
        let due = take_due(self.t.code_expiry()?, now, limit)?;
        self.changed |= !due.is_empty();
        let mut n = 0;
        for key in due {
            let hash = hash_key(expiry_record_key(&key)?)?;
            n += u64::from(self.t.codes()?.remove(&hash)?.is_some());
        }
        Ok(n)
    }

    /// Removes up to `limit` access tokens due at `now`, with their client
    /// index entries; returns how many.
    pub(crate) fn purge_access(&mut self, now: Timestamp, limit: usize) -> Result<u64, Failure> {
        let due = take_due(self.t.access_expiry()?, now, limit)?;
        self.changed |= !due.is_empty();
        let mut n = 0;
        for key in due {
            let hash = hash_key(expiry_record_key(&key)?)?;
            // Decoded only to find its client entry.
            let removed: Option<AccessTokenRecord> = match self.t.access()?.remove(&hash)? {
                Some(bytes) => Some(decode(bytes.value())?),
                None => None,
            };
            if let Some(t) = removed {
                self.unindex_access(&t)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Removes up to `limit` device authorizations due at `now`, with
    /// their user-code entries; returns how many.
    pub(crate) fn purge_devices(&mut self, now: Timestamp, limit: usize) -> Result<u64, Failure> {
        let due = take_due(self.t.device_expiry()?, now, limit)?;
        self.changed |= !due.is_empty();
        let mut n = 0;
        for key in due {
            let hash = hash_key(expiry_record_key(&key)?)?;
            // Decoded only to find its user-code entry.
            let removed: Option<DeviceRecord> = match self.t.devices()?.remove(&hash)? {
                Some(bytes) => Some(decode(bytes.value())?),
                None => None,
            };
            if let Some(d) = removed {
                self.t.device_by_user_code()?.remove(&d.user_code.0)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Removes up to `limit` families due at `now`, with their refresh
    /// index; returns how many.
    pub(crate) fn purge_families(&mut self, now: Timestamp, limit: usize) -> Result<u64, Failure> {
        let due = take_due(self.t.family_expiry()?, now, limit)?;
        self.changed |= !due.is_empty();
        let mut n = 0;
        for key in due {
            let id = id_key(expiry_record_key(&key)?)?;
            n += u64::from(self.delete_family(id)?);
        }
        Ok(n)
    }
}

/// Takes (reads and deletes) up to `limit` expiry entries due at `now`,
/// oldest first. The scan stops at the first entry not due, so the cost is
/// proportional to what is removed.
fn take_due(index: &mut Expiry<'_>, now: Timestamp, limit: usize) -> Result<Vec<Vec<u8>>, Failure> {
    let bound = expiry_bound(now);
    let range = match &bound {
        Some(b) => index.range::<&[u8]>(..&b[..])?,
        None => index.range::<&[u8]>(..)?,
    };
    let due: Vec<Vec<u8>> = range
        .take(limit)
        .map(|e| e.map(|(k, _)| k.value().to_vec()))
        .collect::<Result<_, _>>()?;
    for key in &due {
        index.remove(key.as_slice())?;
    }
    Ok(due)
}
