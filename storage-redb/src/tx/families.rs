//! Token families: records, expiry and cascade indexes, refresh index.

use latchkey::model::{FamilyRecord, Revocation};
use latchkey::storage::rules;
use redb::ReadableTable;

use super::Tx;
use crate::codec::{encode, expiry_key};
use crate::error::Failure;
use crate::read::{by_id, with_prefix};

impl Tx<'_> {
    /// The family with `id`.
    pub(crate) fn family(&mut self, id: &str) -> Result<Option<FamilyRecord>, Failure> {
        by_id(&*self.t.families()?, id)
    }

    /// Writes a family with its expiry and cascade index entries.
    pub(crate) fn put_family(
        &mut self,
        f: &FamilyRecord,
        old: Option<&FamilyRecord>,
    ) -> Result<(), Failure> {
        self.touch();
        if let Some(old) = old {
            if old.expires_at != f.expires_at {
                self.t
                    .family_expiry()?
                    .remove(expiry_key(old.expires_at, old.id.as_bytes()).as_slice())?;
            }
        }
        let id = f.id.as_str();
        self.t.families()?.insert(id, encode(f)?.as_slice())?;
        self.t
            .family_expiry()?
            .insert(expiry_key(f.expires_at, id.as_bytes()).as_slice(), ())?;
        self.t
            .families_by_grant()?
            .insert((f.grant_id.as_str(), id), ())?;
        self.t
            .families_by_client()?
            .insert((f.client_id.as_str(), id), ())?;
        self.t
            .families_by_subject()?
            .insert((f.subject.as_str(), id), ())?;
        Ok(())
    }

    /// Indexes the family's current refresh token under its generation.
    pub(crate) fn index_refresh(&mut self, f: &FamilyRecord) -> Result<(), Failure> {
        self.touch();
        self.t
            .refresh_index()?
            .insert(&f.current.hash.0, (f.id.as_str(), f.generation))?;
        self.t
            .family_refresh()?
            .insert((f.id.as_str(), f.generation), &f.current.hash.0)?;
        Ok(())
    }

    /// Marks a family revoked unless it already is ([`rules::revoke_family`]:
    /// revocation is sticky); returns whether it did.
    pub(crate) fn revoke_family(
        &mut self,
        id: &str,
        revocation: Revocation,
    ) -> Result<bool, Failure> {
        let Some(mut f) = self.family(id)? else {
            return Ok(false);
        };
        if !rules::revoke_family(&mut f, revocation) {
            return Ok(false);
        }
        // Revocation touches no indexed field: rewrite the record only.
        self.touch();
        self.t.families()?.insert(id, encode(&f)?.as_slice())?;
        Ok(true)
    }

    /// Ids of every family of a grant.
    pub(crate) fn families_of_grant(&mut self, grant_id: &str) -> Result<Vec<String>, Failure> {
        with_prefix(&*self.t.families_by_grant()?, grant_id)
    }

    /// Ids of every family of a client.
    pub(crate) fn families_of_client(&mut self, client_id: &str) -> Result<Vec<String>, Failure> {
        with_prefix(&*self.t.families_by_client()?, client_id)
    }

    /// Ids of every family of a subject.
    pub(crate) fn families_of_subject(&mut self, subject: &str) -> Result<Vec<String>, Failure> {
        with_prefix(&*self.t.families_by_subject()?, subject)
    }

    /// Deletes a family with every index entry and refresh hash it owns
    /// (its expiry entry is the caller's: purge has already taken it).
    /// Returns whether it existed.
    pub(super) fn delete_family(&mut self, id: &str) -> Result<bool, Failure> {
        let Some(f) = self.family(id)? else {
            return Ok(false);
        };
        self.touch();
        self.t.families()?.remove(id)?;
        self.t
            .families_by_grant()?
            .remove((f.grant_id.as_str(), id))?;
        self.t
            .families_by_client()?
            .remove((f.client_id.as_str(), id))?;
        self.t
            .families_by_subject()?
            .remove((f.subject.as_str(), id))?;
        let mut generations = Vec::new();
        for entry in self.t.family_refresh()?.range((id, 0)..=(id, u64::MAX))? {
            let (key, hash) = entry?;
            generations.push((key.value().1, *hash.value()));
        }
        for (generation, hash) in generations {
            // Drop the lookup entry only while it still names this family.
            let ours = self
                .t
                .refresh_index()?
                .get(&hash)?
                .is_some_and(|v| v.value().0 == id);
            if ours {
                self.t.refresh_index()?.remove(&hash)?;
            }
            self.t.family_refresh()?.remove((id, generation))?;
        }
        Ok(true)
    }
}
