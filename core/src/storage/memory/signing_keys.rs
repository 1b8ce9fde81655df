//! [`SigningKeyStore`] for the memory store: the keys sit beside the rest
//! of the state, under the same lock, and every change goes through
//! [`rules`].

use async_trait::async_trait;

use super::MemoryStore;
use crate::clock::Timestamp;
use crate::jwt::SigningKeyRecord;
use crate::storage::{rules, SigningKeyStore, StorageError, StorageResult};

#[async_trait]
impl SigningKeyStore for MemoryStore {
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StorageResult<()> {
        let mut s = self.lock()?;
        if !rules::signing_key_insertable(&s.signing_keys, key) {
            return Err(StorageError::Conflict);
        }
        s.signing_keys.push(key.clone());
        Ok(())
    }

    async fn list_signing_keys(&self) -> StorageResult<Vec<SigningKeyRecord>> {
        let mut keys = self.lock()?.signing_keys.clone();
        keys.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        Ok(keys)
    }

    async fn promote_signing_key(
        &self,
        next: &str,
        previous: Option<&str>,
        now: Timestamp,
    ) -> StorageResult<bool> {
        let mut s = self.lock()?;
        let Some(changed) = rules::promote_signing_key(&s.signing_keys, next, previous, now) else {
            return Ok(false);
        };
        for c in changed {
            if let Some(k) = s.signing_keys.iter_mut().find(|k| k.kid == c.kid) {
                *k = c;
            }
        }
        Ok(true)
    }

    async fn retire_signing_key(&self, kid: &str, now: Timestamp) -> StorageResult<bool> {
        let mut s = self.lock()?;
        let Some(k) = s.signing_keys.iter_mut().find(|k| k.kid == kid) else {
            return Ok(false);
        };
        match rules::retire_signing_key(k, now) {
            Some(r) => {
                *k = r;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
