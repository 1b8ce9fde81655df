//! Browser sessions and their two expiry indexes (idle: by `last_seen`;
//! age: by `created_at`).

use latchkey::clock::Timestamp;
use latchkey::web::{SessionKey, SessionRecord};
use redb::ReadableTable;

use super::{Expiry, Tx};
use crate::codec::{decode, encode, expiry_key, expiry_record_key, hash_key, StoredSession};
use crate::error::Failure;

impl Tx<'_> {
    /// The session under `key`.
    pub(crate) fn session(&mut self, key: &SessionKey) -> Result<Option<SessionRecord>, Failure> {
        match self.t.sessions()?.get(&key.0)? {
            Some(v) => Ok(Some(decode::<StoredSession>(v.value())?.into_record(key.0))),
            None => Ok(None),
        }
    }

    /// Stores `r` (over any session under its key) with its index entries.
    pub(crate) fn put_session(&mut self, r: &SessionRecord) -> Result<(), Failure> {
        if let Some(old) = self.session(&r.key)? {
            self.unindex_session(&old)?;
        }
        self.touch();
        self.t
            .sessions()?
            .insert(&r.key.0, encode(&StoredSession::of(r))?.as_slice())?;
        self.t
            .session_idle()?
            .insert(expiry_key(r.last_seen, &r.key.0).as_slice(), ())?;
        self.t
            .session_age()?
            .insert(expiry_key(r.created_at, &r.key.0).as_slice(), ())?;
        Ok(())
    }

    /// Deletes the session under `key` and its index entries; returns
    /// whether it existed.
    pub(crate) fn delete_session(&mut self, key: &SessionKey) -> Result<bool, Failure> {
        let Some(old) = self.session(key)? else {
            return Ok(false);
        };
        self.touch();
        self.unindex_session(&old)?;
        self.t.sessions()?.remove(&key.0)?;
        Ok(true)
    }

    fn unindex_session(&mut self, r: &SessionRecord) -> Result<(), Failure> {
        self.touch();
        self.t
            .session_idle()?
            .remove(expiry_key(r.last_seen, &r.key.0).as_slice())?;
        self.t
            .session_age()?
            .remove(expiry_key(r.created_at, &r.key.0).as_slice())?;
        Ok(())
    }

    /// Removes up to `limit` sessions last seen before `idle_before` or
    /// created before `created_before`; returns how many.
    pub(crate) fn purge_sessions(
        &mut self,
        idle_before: Timestamp,
        created_before: Timestamp,
        limit: usize,
    ) -> Result<u64, Failure> {
        let mut n = 0;
        for key in keys_before(&*self.t.session_idle()?, idle_before, limit)? {
            n += u64::from(self.delete_session(&key)?);
        }
        let room = limit.saturating_sub(usize::try_from(n).unwrap_or(usize::MAX));
        // The idle pass removed its sessions from the age index too.
        for key in keys_before(&*self.t.session_age()?, created_before, room)? {
            n += u64::from(self.delete_session(&key)?);
        }
        Ok(n)
    }
}

/// The session keys of up to `limit` entries of `index` with a time before
/// `before`, oldest first; the scan stops at the first later one.
fn keys_before(
    index: &Expiry<'_>,
    before: Timestamp,
    limit: usize,
) -> Result<Vec<SessionKey>, Failure> {
    let bound = before.0.to_be_bytes();
    index
        .range::<&[u8]>(..&bound[..])?
        .take(limit)
        .map(|e| {
            let (k, _) = e?;
            Ok(SessionKey(hash_key(expiry_record_key(k.value())?)?))
        })
        .collect()
}
