//! Grants with their (subject, client) and client indexes.

use latchkey::clock::Timestamp;
use latchkey::model::GrantRecord;
use redb::ReadableTable;

use super::Tx;
use crate::codec::encode;
use crate::error::Failure;
use crate::read::{by_id, with_prefix};

impl Tx<'_> {
    /// The grant with `id`.
    pub(crate) fn grant(&mut self, id: &str) -> Result<Option<GrantRecord>, Failure> {
        by_id(&*self.t.grants()?, id)
    }

    /// The id of the (subject, client) grant.
    pub(crate) fn grant_id_for(
        &mut self,
        subject: &str,
        client_id: &str,
    ) -> Result<Option<String>, Failure> {
        Ok(self
            .t
            .grant_by_pair()?
            .get((subject, client_id))?
            .map(|v| v.value().to_owned()))
    }

    /// Writes a grant and its pair and client index entries. A record that
    /// already sits under this id for another pair loses its old entries, so
    /// the indexes never point at a record that says otherwise.
    pub(crate) fn put_grant(&mut self, grant: &GrantRecord) -> Result<(), Failure> {
        self.touch();
        if let Some(old) = self.grant(&grant.id)? {
            if (old.subject.as_str(), old.client_id.as_str())
                != (grant.subject.as_str(), grant.client_id.as_str())
            {
                self.unindex_grant(&old)?;
            }
        }
        self.t
            .grants()?
            .insert(grant.id.as_str(), encode(grant)?.as_slice())?;
        self.t.grant_by_pair()?.insert(
            (grant.subject.as_str(), grant.client_id.as_str()),
            grant.id.as_str(),
        )?;
        self.t
            .grants_by_client()?
            .insert((grant.client_id.as_str(), grant.id.as_str()), ())?;
        Ok(())
    }

    /// Sets a grant's `last_used_at` to `now` if that is later.
    pub(crate) fn touch_grant(&mut self, id: &str, now: Timestamp) -> Result<(), Failure> {
        if let Some(mut g) = self.grant(id)? {
            if g.last_used_at < now {
                g.last_used_at = now;
                self.touch();
                self.t.grants()?.insert(id, encode(&g)?.as_slice())?;
            }
        }
        Ok(())
    }

    /// Deletes a grant and its index entries; returns it.
    pub(crate) fn delete_grant(&mut self, id: &str) -> Result<Option<GrantRecord>, Failure> {
        let Some(g) = self.grant(id)? else {
            return Ok(None);
        };
        self.touch();
        self.t.grants()?.remove(id)?;
        self.unindex_grant(&g)?;
        Ok(Some(g))
    }

    fn unindex_grant(&mut self, g: &GrantRecord) -> Result<(), Failure> {
        // Only drop the pair entry if it still names this grant.
        let pair = (g.subject.as_str(), g.client_id.as_str());
        if self.grant_id_for(pair.0, pair.1)?.as_deref() == Some(g.id.as_str()) {
            self.t.grant_by_pair()?.remove(pair)?;
        }
        self.t
            .grants_by_client()?
            .remove((g.client_id.as_str(), g.id.as_str()))?;
        Ok(())
    }

    /// Ids of every grant of `client_id`.
    pub(crate) fn grants_of_client(&mut self, client_id: &str) -> Result<Vec<String>, Failure> {
        with_prefix(&*self.t.grants_by_client()?, client_id)
    }

    /// Ids of every grant of `subject`, in client-id order.
    pub(crate) fn grants_of_subject(&mut self, subject: &str) -> Result<Vec<String>, Failure> {
        let mut ids = Vec::new();
        for entry in self.t.grant_by_pair()?.range((subject, "")..)? {
            let (key, id) = entry?;
            if key.value().0 != subject {
                break;
            }
            ids.push(id.value().to_owned());
        }
        Ok(ids)
    }
}
