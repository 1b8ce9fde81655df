//! Each engine's copy of the signing keys, reloaded from storage every
//! [`super::JwtConfig::key_refresh`] seconds so that issuing and local
//! verification do not read storage per request.

use std::sync::{Arc, Mutex};

use super::crypto::Signer;
use super::jose::VerifyingKey;
use super::SigningKeyRecord;
use crate::clock::Timestamp;

/// The active key, opened.
#[derive(Debug)]
pub(crate) struct ActiveKey {
    pub(crate) record: SigningKeyRecord,
    pub(crate) signer: Signer,
}

/// The keys as of one load.
#[derive(Debug)]
pub(crate) struct KeySet {
    pub(crate) loaded_at: Timestamp,
    /// Published keys (every state but retired).
    pub(crate) published: Vec<SigningKeyRecord>,
    pub(crate) verifying: Vec<VerifyingKey>,
    pub(crate) active: Option<ActiveKey>,
}

/// The last loaded [`KeySet`]. The lock is never held across an await.
#[derive(Debug, Default)]
pub(crate) struct KeyCache(Mutex<Option<Arc<KeySet>>>);

impl KeyCache {
    /// The cached set if it was loaded less than `refresh` seconds before
    /// `now` (and not in the future, should the clock step back).
    pub(crate) fn fresh(&self, now: Timestamp, refresh: u64) -> Option<Arc<KeySet>> {
        let g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.as_ref()
            .filter(|s| s.loaded_at <= now && now < s.loaded_at.plus(refresh))
            .cloned()
    }

    /// The cached set, however old.
    pub(crate) fn any(&self) -> Option<Arc<KeySet>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn put(&self, set: Arc<KeySet>) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(set);
    }
}
