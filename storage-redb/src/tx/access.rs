//! Access tokens and their expiry index.

use latchkey::model::AccessTokenRecord;
use latchkey::token::TokenHash;

use super::Tx;
use crate::codec::{encode, expiry_key};
use crate::error::Failure;
use crate::read::by_hash;

impl Tx<'_> {
    /// The access token with `hash`.
    pub(crate) fn access(&self, hash: &TokenHash) -> Result<Option<AccessTokenRecord>, Failure> {
        by_hash(&self.access, &hash.0)
    }

    /// Writes an access token, keeping its expiry entry in step with `old`.
    pub(crate) fn put_access(
        &mut self,
        t: &AccessTokenRecord,
        old: Option<&AccessTokenRecord>,
    ) -> Result<(), Failure> {
        self.touch();
        if let Some(old) = old {
            if old.expires_at != t.expires_at {
                self.access_expiry
                    .remove(expiry_key(old.expires_at, &old.hash.0).as_slice())?;
            }
        }
        self.access.insert(&t.hash.0, encode(t)?.as_slice())?;
        self.access_expiry
            .insert(expiry_key(t.expires_at, &t.hash.0).as_slice(), ())?;
        Ok(())
    }

    /// Marks an access token revoked at `at` unless it already is; returns
    /// whether it did.
    pub(crate) fn revoke_access(
        &mut self,
        hash: &TokenHash,
        at: latchkey::clock::Timestamp,
    ) -> Result<bool, Failure> {
        match self.access(hash)? {
            Some(old) if old.revoked_at.is_none() => {
                let mut t = old.clone();
                t.revoked_at = Some(at);
                self.put_access(&t, Some(&old))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Stores an access token, replacing one with the same hash.
    pub(crate) fn upsert_access(&mut self, t: &AccessTokenRecord) -> Result<(), Failure> {
        let old = self.access(&t.hash)?;
        self.put_access(t, old.as_ref())
    }
}
