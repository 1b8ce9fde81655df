//! Access tokens, their expiry index and the client index of stand-alone
//! tokens.

use latchkey::model::AccessTokenRecord;
use latchkey::token::TokenHash;
use redb::ReadableTable;

use super::Tx;
use crate::codec::{encode, expiry_key};
use crate::error::Failure;
use crate::read::by_hash;

impl Tx<'_> {
    /// The access token with `hash`.
    pub(crate) fn access(
        &mut self,
        hash: &TokenHash,
    ) -> Result<Option<AccessTokenRecord>, Failure> {
        by_hash(&*self.t.access()?, &hash.0)
    }

    /// Writes an access token, keeping its expiry entry and (for a
    /// stand-alone token) its client entry in step with `old`.
    pub(crate) fn put_access(
        &mut self,
        t: &AccessTokenRecord,
        old: Option<&AccessTokenRecord>,
    ) -> Result<(), Failure> {
        self.touch();
        if let Some(old) = old {
            if old.expires_at != t.expires_at {
                self.t
                    .access_expiry()?
                    .remove(expiry_key(old.expires_at, &old.hash.0).as_slice())?;
            }
            if client_key(old).is_some() && client_key(old) != client_key(t) {
                self.unindex_access(old)?;
            }
        }
        self.t.access()?.insert(&t.hash.0, encode(t)?.as_slice())?;
        self.t
            .access_expiry()?
            .insert(expiry_key(t.expires_at, &t.hash.0).as_slice(), ())?;
        if let Some(key) = client_key(t) {
            self.t.access_by_client()?.insert(key, ())?;
        }
        Ok(())
    }

    /// Drops the client entry of a stand-alone token that is being removed
    /// or rewritten (the caller has marked the transaction changed).
    pub(super) fn unindex_access(&mut self, t: &AccessTokenRecord) -> Result<(), Failure> {
        if let Some(key) = client_key(t) {
            self.t.access_by_client()?.remove(key)?;
        }
        Ok(())
    }

    /// Hashes of every stand-alone access token of `client_id`, from the
    /// client index: the cost is what the client has, not the table size.
    pub(crate) fn standalone_access_of_client(
        &mut self,
        client_id: &str,
    ) -> Result<Vec<TokenHash>, Failure> {
        let mut out = Vec::new();
        for entry in self
            .t
            .access_by_client()?
            .range((client_id, &[0u8; 32])..=(client_id, &[0xffu8; 32]))?
        {
            let (key, _) = entry?;
            out.push(TokenHash(*key.value().1));
        }
        Ok(out)
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

/// The [`crate::tables::ACCESS_BY_CLIENT`] key of a stand-alone token;
/// `None` for a family token, which is not indexed by client.
fn client_key(t: &AccessTokenRecord) -> Option<(&str, &[u8; 32])> {
    t.family_id
        .is_none()
        .then_some((t.client_id.as_str(), &t.hash.0))
}
