//! Client records and the owner index.

use latchkey::model::ClientRecord;

use super::Tx;
use crate::codec::encode;
use crate::error::Failure;
use crate::read::by_id;

impl Tx<'_> {
    /// The client with `id`.
    pub(crate) fn client(&mut self, id: &str) -> Result<Option<ClientRecord>, Failure> {
        by_id(&*self.t.clients()?, id)
    }

    /// Writes a client, moving its owner index entry if the owner changed.
    pub(crate) fn put_client(
        &mut self,
        client: &ClientRecord,
        old: Option<&ClientRecord>,
    ) -> Result<(), Failure> {
        self.touch();
        if let Some(old) = old {
            if old.owner != client.owner {
                self.t
                    .clients_by_owner()?
                    .remove((old.owner.as_str(), old.id.as_str()))?;
            }
        }
        self.t
            .clients()?
            .insert(client.id.as_str(), encode(client)?.as_slice())?;
        self.t
            .clients_by_owner()?
            .insert((client.owner.as_str(), client.id.as_str()), ())?;
        Ok(())
    }

    /// Deletes a client and its owner index entry; returns it.
    pub(crate) fn remove_client(&mut self, id: &str) -> Result<Option<ClientRecord>, Failure> {
        let Some(client) = self.client(id)? else {
            return Ok(None);
        };
        self.touch();
        self.t.clients()?.remove(id)?;
        self.t
            .clients_by_owner()?
            .remove((client.owner.as_str(), client.id.as_str()))?;
        Ok(Some(client))
    }
}
