//! The session store on the engine's own storage.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::storage::{BrowserSessionStore, StorageError};
use crate::web::store::{SessionError, SessionKey, SessionRecord, SessionStore};

/// Sessions purged per storage call by [`SessionStore::purge_expired`]:
/// each batch is one short transaction, so a large backlog never holds
/// locks for long.
pub const PURGE_BATCH: usize = 500;

/// A [`SessionStore`] over the engine's storage (any
/// [`crate::storage::Storage`], or anything implementing
/// [`BrowserSessionStore`]): every instance on one database sees the same
/// sessions, so instances behind a load balancer need no sticky routing.
///
/// ```
/// use std::sync::Arc;
/// use latchkey::{Keyring, MemoryStore};
/// use latchkey::web::{SessionConfig, Sessions, StorageSessionStore};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let storage = Arc::new(MemoryStore::new()); // the engine's store
/// let keys = Arc::new(Keyring::new(&[(1, [7u8; 32])]).unwrap()); // the engine's keys
/// let config = SessionConfig::for_issuer("https://auth.example");
/// let a = Sessions::new(Arc::new(StorageSessionStore::new(storage.clone())), config.clone())
///     .with_keys(keys.clone());
/// let b = Sessions::new(Arc::new(StorageSessionStore::new(storage)), config).with_keys(keys);
/// let (anon, _) = a.load_or_create_from_header(None).await.unwrap();
/// let (alice, _) = b.sign_in(&anon, "alice").await.unwrap();
/// let seen = a.load_from_header(Some(&b.cookie_header(&alice))).await.unwrap();
/// assert_eq!(seen.unwrap().binding, anon.binding);
/// # });
/// ```
///
/// Unlike [`crate::web::MemorySessionStore`] it sets no bound on how many
/// sessions exist: expired ones go when [`crate::web::Sessions::purge_expired`]
/// runs, so call it on an interval.
pub struct StorageSessionStore<S: ?Sized> {
    storage: Arc<S>,
}

impl<S: ?Sized> StorageSessionStore<S> {
    /// Sessions kept in `storage`.
    #[must_use]
    pub fn new(storage: Arc<S>) -> Self {
        StorageSessionStore { storage }
    }

    /// The storage underneath.
    #[must_use]
    pub fn storage(&self) -> &Arc<S> {
        &self.storage
    }
}

impl<S: ?Sized> Clone for StorageSessionStore<S> {
    fn clone(&self) -> Self {
        StorageSessionStore {
            storage: Arc::clone(&self.storage),
        }
    }
}

impl<S: ?Sized> fmt::Debug for StorageSessionStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageSessionStore")
            .finish_non_exhaustive()
    }
}

fn session_error(e: StorageError) -> SessionError {
    match e {
        StorageError::Unavailable(cause) => SessionError::Unavailable(cause),
        other => SessionError::Backend(Box::new(other)),
    }
}

#[async_trait]
impl<S: BrowserSessionStore + ?Sized + 'static> SessionStore for StorageSessionStore<S> {
    async fn get(&self, key: &SessionKey) -> Result<Option<SessionRecord>, SessionError> {
        self.storage
            .get_browser_session(key)
            .await
            .map_err(session_error)
    }

    async fn insert(&self, record: SessionRecord) -> Result<(), SessionError> {
        self.storage
            .insert_browser_session(&record)
            .await
            .map_err(session_error)
    }

    async fn touch(&self, key: &SessionKey, now: Timestamp) -> Result<(), SessionError> {
        self.storage
            .touch_browser_session(key, now)
            .await
            .map_err(session_error)
    }

    async fn replace(&self, old: &SessionKey, new: SessionRecord) -> Result<(), SessionError> {
        self.storage
            .replace_browser_session(old, &new)
            .await
            .map_err(session_error)
    }

    async fn remove(&self, key: &SessionKey) -> Result<(), SessionError> {
        self.storage
            .remove_browser_session(key)
            .await
            .map(|_| ())
            .map_err(session_error)
    }

    async fn set_flash(&self, key: &SessionKey, message: String) -> Result<(), SessionError> {
        self.storage
            .set_browser_session_flash(key, &message)
            .await
            .map(|_| ())
            .map_err(session_error)
    }

    async fn take_flash(&self, key: &SessionKey) -> Result<Option<String>, SessionError> {
        self.storage
            .take_browser_session_flash(key)
            .await
            .map_err(session_error)
    }

    async fn purge_expired(
        &self,
        idle_before: Timestamp,
        created_before: Timestamp,
    ) -> Result<usize, SessionError> {
        let mut total = 0usize;
        loop {
            let n = self
                .storage
                .purge_browser_sessions(idle_before, created_before, PURGE_BATCH)
                .await
                .map_err(session_error)?;
            total = total.saturating_add(usize::try_from(n).unwrap_or(usize::MAX));
            if n < PURGE_BATCH as u64 {
                return Ok(total);
            }
        }
    }
}
