//! [`SigningKeyStore`] on redb: each call is one write transaction that
//! reads the whole (small) key table and applies [`rules`].

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::jwt::SigningKeyRecord;
use latchkey::storage::{rules, SigningKeyStore, StorageError, StorageResult};

use crate::tables::SIGNING_KEYS;
use crate::tx::signing_keys::read_all;
use crate::RedbStore;

#[async_trait]
impl SigningKeyStore for RedbStore {
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StorageResult<()> {
        let key = key.clone();
        self.write("insert_signing_key", move |tx| {
            if !rules::signing_key_insertable(&tx.signing_keys()?, &key) {
                return Err(StorageError::Conflict.into());
            }
            tx.put_signing_key(&key)
        })
        .await
    }

    async fn list_signing_keys(&self) -> StorageResult<Vec<SigningKeyRecord>> {
        self.read(|r| read_all(&r.open_table(SIGNING_KEYS)?))
    }

    async fn promote_signing_key(
        &self,
        next: &str,
        previous: Option<&str>,
        now: Timestamp,
    ) -> StorageResult<bool> {
        let (next, previous) = (next.to_owned(), previous.map(str::to_owned));
        self.write("promote_signing_key", move |tx| {
            let keys = tx.signing_keys()?;
            let Some(changed) = rules::promote_signing_key(&keys, &next, previous.as_deref(), now)
            else {
                return Ok(false);
            };
            for k in &changed {
                tx.put_signing_key(k)?;
            }
            Ok(true)
        })
        .await
    }

    async fn retire_signing_key(&self, kid: &str, now: Timestamp) -> StorageResult<bool> {
        let kid = kid.to_owned();
        self.write("retire_signing_key", move |tx| {
            let keys = tx.signing_keys()?;
            match keys
                .iter()
                .find(|k| k.kid == kid)
                .and_then(|k| rules::retire_signing_key(k, now))
            {
                Some(r) => tx.put_signing_key(&r).map(|()| true),
                None => Ok(false),
            }
        })
        .await
    }
}
