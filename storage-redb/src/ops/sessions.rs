//! [`BrowserSessionStore`] on redb: each method one transaction.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::storage::{BrowserSessionStore, StorageError, StorageResult};
use latchkey::web::{SessionKey, SessionRecord};

use crate::codec::{decode, StoredSession};
use crate::tables::BROWSER_SESSIONS;
use crate::RedbStore;

#[async_trait]
impl BrowserSessionStore for RedbStore {
    async fn insert_browser_session(&self, record: &SessionRecord) -> StorageResult<()> {
        let record = record.clone();
        self.write("insert_browser_session", move |tx| {
            if tx.session(&record.key)?.is_some() {
                return Err(StorageError::Conflict.into());
            }
            tx.put_session(&record)
        })
        .await
    }

    async fn get_browser_session(&self, key: &SessionKey) -> StorageResult<Option<SessionRecord>> {
        let key = key.clone();
        self.read(|r| match r.open_table(BROWSER_SESSIONS)?.get(&key.0)? {
            Some(v) => Ok(Some(decode::<StoredSession>(v.value())?.into_record(key.0))),
            None => Ok(None),
        })
    }

    async fn touch_browser_session(&self, key: &SessionKey, now: Timestamp) -> StorageResult<()> {
        let key = key.clone();
        self.write("touch_browser_session", move |tx| {
            match tx.session(&key)? {
                // Only forward; an unchanged transaction is not committed.
                Some(mut r) if r.last_seen < now => {
                    r.last_seen = now;
                    tx.put_session(&r)
                }
                _ => Ok(()),
            }
        })
        .await
    }

    async fn replace_browser_session(
        &self,
        old: &SessionKey,
        new: &SessionRecord,
    ) -> StorageResult<()> {
        let (old, new) = (old.clone(), new.clone());
        self.write("replace_browser_session", move |tx| {
            if new.key != old && tx.session(&new.key)?.is_some() {
                return Err(StorageError::Conflict.into());
            }
            tx.delete_session(&old)?;
            tx.fault("mid");
            tx.put_session(&new)
        })
        .await
    }

    async fn remove_browser_session(&self, key: &SessionKey) -> StorageResult<bool> {
        let key = key.clone();
        self.write("remove_browser_session", move |tx| tx.delete_session(&key))
            .await
    }

    async fn set_browser_session_flash(
        &self,
        key: &SessionKey,
        message: &str,
    ) -> StorageResult<bool> {
        let (key, message) = (key.clone(), message.to_owned());
        self.write("set_browser_session_flash", move |tx| {
            match tx.session(&key)? {
                Some(mut r) => {
                    r.flash = Some(message);
                    tx.put_session(&r)?;
                    Ok(true)
                }
                None => Ok(false),
            }
        })
        .await
    }

    async fn take_browser_session_flash(&self, key: &SessionKey) -> StorageResult<Option<String>> {
        let key = key.clone();
        self.write("take_browser_session_flash", move |tx| {
            match tx.session(&key)? {
                Some(mut r) if r.flash.is_some() => {
                    let flash = r.flash.take();
                    tx.put_session(&r)?;
                    Ok(flash)
                }
                _ => Ok(None),
            }
        })
        .await
    }

    async fn purge_browser_sessions(
        &self,
        idle_before: Timestamp,
        created_before: Timestamp,
        limit: usize,
    ) -> StorageResult<u64> {
        self.write("purge_browser_sessions", move |tx| {
            tx.purge_sessions(idle_before, created_before, limit)
        })
        .await
    }
}
