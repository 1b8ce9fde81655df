//! [`ClientStore`] on redb.

use async_trait::async_trait;
use latchkey::model::{ClientRecord, NewEvent, Revocation};
use latchkey::storage::{ClientStore, StorageError, StorageResult};

use crate::read::{by_id, with_prefix};
use crate::tables::{CLIENTS, CLIENTS_BY_OWNER};
use crate::RedbStore;

#[async_trait]
impl ClientStore for RedbStore {
    async fn insert_client(&self, client: &ClientRecord, events: &[NewEvent]) -> StorageResult<()> {
        let (client, events) = (client.clone(), events.to_vec());
        self.write("insert_client", move |tx| {
            if tx.client(&client.id)?.is_some() {
                return Err(StorageError::Conflict.into());
            }
            tx.put_client(&client, None)?;
            tx.append(&events)
        })
        .await
    }

    async fn get_client(&self, id: &str) -> StorageResult<Option<ClientRecord>> {
        self.read(|r| by_id(&r.open_table(CLIENTS)?, id))
    }

    async fn update_client(
        &self,
        client: &ClientRecord,
        expected_revision: u64,
        events: &[NewEvent],
    ) -> StorageResult<()> {
        let (client, events) = (client.clone(), events.to_vec());
        self.write("update_client", move |tx| {
            let stored = tx.client(&client.id)?.ok_or(StorageError::NotFound)?;
            if stored.revision != expected_revision {
                return Err(StorageError::Conflict.into());
            }
            tx.put_client(&client, Some(&stored))?;
            tx.append(&events)
        })
        .await
    }

    async fn delete_client(
        &self,
        id: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<bool> {
        let (id, events) = (id.to_owned(), events.to_vec());
        self.write("delete_client", move |tx| {
            if tx.remove_client(&id)?.is_none() {
                return Ok(false);
            }
            for grant_id in tx.grants_of_client(&id)? {
                tx.delete_grant(&grant_id)?;
            }
            tx.fault("mid");
            for family_id in tx.families_of_client(&id)? {
                tx.revoke_family(&family_id, revocation)?;
            }
            // Stand-alone (client_credentials) tokens have no family to
            // die with: revoke them here, found through their index.
            for hash in tx.standalone_access_of_client(&id)? {
                tx.revoke_access(&hash, revocation.at)?;
            }
            tx.append(&events)?;
            Ok(true)
        })
        .await
    }

    async fn list_clients(&self, owner: &str) -> StorageResult<Vec<ClientRecord>> {
        self.read(|r| {
            let ids = with_prefix(&r.open_table(CLIENTS_BY_OWNER)?, owner)?;
            let clients = r.open_table(CLIENTS)?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                // The index and the records commit together, so a miss
                // here means the file was damaged.
                let c: ClientRecord = by_id(&clients, &id)?.ok_or_else(|| {
                    crate::error::Failure::Corrupt(format!("owner index names missing client {id}"))
                })?;
                out.push(c);
            }
            Ok(out)
        })
    }

    async fn list_all_clients(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StorageResult<Vec<ClientRecord>> {
        let after = after.map(str::to_owned);
        self.read(|r| {
            let clients = r.open_table(CLIENTS)?;
            let range = match &after {
                Some(a) => clients.range::<&str>((
                    std::ops::Bound::Excluded(a.as_str()),
                    std::ops::Bound::Unbounded,
                ))?,
                None => clients.range::<&str>(..)?,
            };
            let mut out = Vec::new();
            for entry in range.take(limit) {
                let (_, v) = entry?;
                out.push(crate::codec::decode(v.value())?);
            }
            Ok(out)
        })
    }
}
