//! The session-store contract, and what a store holds.
//!
//! [`crate::web::Sessions`] owns the rules (id rotation at sign-in, the
//! binding hand-over, timeouts, CSRF tokens); a store only keeps records.
//! [`MemorySessionStore`](crate::web::MemorySessionStore) is the bounded
//! in-process one; [`StorageSessionStore`](crate::web::StorageSessionStore)
//! keeps sessions in the engine's storage backends (memory, redb, SQL), so
//! that several instances behind a load balancer share them without sticky
//! routing. Records are keyed by a hash of the cookie, so a database dump
//! holds no usable session ids, every method is one atomic operation, and
//! nothing relies on in-process state.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::web::csrf::CsrfToken;

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a session store keys on: SHA-256 of the session cookie, never the
/// cookie itself (the fosite lesson: a leaked table holds no credentials).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SessionKey(pub [u8; 32]);

impl SessionKey {
    /// Lower-case hex, for backends that key on text.
    #[must_use]
    pub fn to_hex(&self) -> String {
        use fmt::Write as _;
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix identifies a record in logs; it cannot be turned back
        // into the cookie.
        write!(f, "SessionKey({}…)", &self.to_hex()[..8])
    }
}

/// One stored browser session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// Hash of the cookie.
    pub key: SessionKey,
    /// The signed-in user (the host's identifier), `None` while anonymous.
    pub user: Option<String>,
    /// Token every form of this session must echo.
    pub csrf: CsrfToken,
    /// The user-agent binding handed to [`crate::Engine::authorize`].
    pub binding: String,
    /// A one-time message for the next page.
    pub flash: Option<String>,
    /// When this id was issued; the absolute lifetime counts from here.
    pub created_at: Timestamp,
    /// Last use; the idle timeout counts from here.
    pub last_seen: Timestamp,
}

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The CSPRNG failed; retrying the request will not help.
    #[error("the random number generator failed")]
    Randomness,
    /// The store is unreachable or overloaded; retrying later may work.
    #[error("session store temporarily unavailable")]
    Unavailable(#[source] Cause),
    /// Anything else the store reports.
    #[error("session store failure")]
    Backend(#[source] Cause),
}

impl From<SessionError> for crate::Error {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Unavailable(c) => crate::Error::TemporarilyUnavailable(c),
            other => crate::Error::internal(other),
        }
    }
}

/// Where sessions live. Object-safe (`Arc<dyn SessionStore>`), like the
/// engine's storage traits. Each method is one atomic operation; none of
/// them checks timeouts, which [`crate::web::Sessions`] does.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// The record under `key`.
    async fn get(&self, key: &SessionKey) -> Result<Option<SessionRecord>, SessionError>;

    /// Stores a new (anonymous) session. A store with a bound may evict
    /// others to make room, but never a signed-in session for an
    /// anonymous one: anyone can create those.
    async fn insert(&self, record: SessionRecord) -> Result<(), SessionError>;

    /// Records a use of `key` at `now` (idle timeout, LRU order).
    async fn touch(&self, key: &SessionKey, now: Timestamp) -> Result<(), SessionError>;

    /// Sign-in and account switch: removes `old` and stores `new`, as one
    /// operation, so the pre-sign-in id is dead the moment the new one
    /// exists (session fixation, OWASP ASVS V3.2.1).
    async fn replace(&self, old: &SessionKey, new: SessionRecord) -> Result<(), SessionError>;

    /// Removes `key` (sign-out, expiry). Removing a missing key is fine.
    async fn remove(&self, key: &SessionKey) -> Result<(), SessionError>;

    /// Sets the one-time message of `key`, if it exists.
    async fn set_flash(&self, key: &SessionKey, message: String) -> Result<(), SessionError>;

    /// Takes (reads and clears) the one-time message of `key`.
    async fn take_flash(&self, key: &SessionKey) -> Result<Option<String>, SessionError>;

    /// Removes sessions last seen before `idle_before` or created before
    /// `created_before`; returns how many went. For maintenance tasks.
    async fn purge_expired(
        &self,
        idle_before: Timestamp,
        created_before: Timestamp,
    ) -> Result<usize, SessionError>;
}
