//! The engine: configuration, storage, clock, randomness and keys, shared
//! by every endpoint.

use std::sync::Arc;

use crate::audit::Audit;
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::config::EngineConfig;
use crate::entropy::{Entropy, SystemEntropy};
use crate::error::Error;
use crate::grant::GrantRegistry;
use crate::manage_error::ManageError;
use crate::model::NewEvent;
use crate::model::{Event, EventKind};
use crate::storage::{PurgeReport, Storage};
use crate::token::{Keyring, Secret, TokenKind};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// An authorization server. Cheap to clone; every clone shares state.
pub struct Engine<S: ?Sized> {
    pub(crate) store: Arc<S>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) entropy: Arc<dyn Entropy>,
    pub(crate) keys: Arc<Keyring>,
    pub(crate) config: Arc<EngineConfig>,
    pub(crate) grants: Arc<GrantRegistry<S>>,
    /// The signing keys of JWT access tokens, as last loaded.
    pub(crate) signing: Arc<crate::jwt::KeyCache>,
}

impl<S: ?Sized> Clone for Engine<S> {
    fn clone(&self) -> Self {
        Engine {
            store: self.store.clone(),
            clock: self.clock.clone(),
            entropy: self.entropy.clone(),
            keys: self.keys.clone(),
            config: self.config.clone(),
            grants: self.grants.clone(),
            signing: self.signing.clone(),
        }
    }
}

impl<S: ?Sized> std::fmt::Debug for Engine<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl<S: Storage + ?Sized> Engine<S> {
    /// An engine over `store` with the system clock and CSPRNG.
    /// `keys` hash every credential: persist them, or every token dies with
    /// the process.
    #[must_use]
    pub fn new(store: Arc<S>, config: EngineConfig, keys: Keyring) -> Self {
        Engine {
            store,
            clock: Arc::new(SystemClock),
            entropy: Arc::new(SystemEntropy::new()),
            keys: Arc::new(keys),
            grants: Arc::new(GrantRegistry::builtin(&config.grant_types)),
            signing: Arc::default(),
            config: Arc::new(config),
        }
    }

    /// Replaces the token endpoint's grant handlers (built from
    /// [`EngineConfig::grant_types`] by default), e.g. to add a custom
    /// grant. Client validation and the metadata follow the new registry.
    #[must_use]
    pub fn with_grants(mut self, grants: GrantRegistry<S>) -> Self {
        self.grants = Arc::new(grants);
        self
    }

    /// The grant handlers the token endpoint dispatches to.
    #[must_use]
    pub fn grants(&self) -> &GrantRegistry<S> {
        &self.grants
    }

    /// Replaces the clock (tests use [`crate::clock::ManualClock`]).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the randomness source.
    #[must_use]
    pub fn with_entropy(mut self, entropy: Arc<dyn Entropy>) -> Self {
        self.entropy = entropy;
        self
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The server keys, for what else the host signs with them: browser
    /// pre-sessions ([`crate::web::Sessions::with_keys`]).
    #[must_use]
    pub fn keyring(&self) -> Arc<Keyring> {
        self.keys.clone()
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub(crate) fn mint(&self, kind: TokenKind) -> Result<(Secret, crate::token::TokenHash), Error> {
        Ok(self.keys.mint(kind, &*self.entropy)?)
    }

    /// A random identifier with `prefix` (not a credential).
    pub(crate) fn new_id(&self, prefix: &str) -> Result<String, Error> {
        let mut b = [0u8; 16];
        self.entropy.fill(&mut b)?;
        Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(b)))
    }

    /// An event happening now, caused by `audit`'s actor.
    pub(crate) fn event(&self, kind: EventKind, audit: &Audit) -> NewEvent {
        NewEvent {
            at: self.now(),
            kind,
            audit: audit.clone(),
        }
    }

    /// Up to `limit` outbox events not yet acknowledged by `consumer`, in
    /// order. Delivery is at least once: process, then [`Engine::ack_events`].
    ///
    /// # Errors
    /// Storage failures.
    pub async fn poll_events(
        &self,
        consumer: &str,
        limit: usize,
    ) -> Result<Vec<Event>, ManageError> {
        Ok(self.store.poll_events(consumer, limit).await?)
    }

    /// Acknowledges every event of `consumer` up to `seq`.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn ack_events(&self, consumer: &str, seq: u64) -> Result<(), ManageError> {
        Ok(self.store.ack_events(consumer, seq).await?)
    }

    /// Removes up to `limit` expired records of each kind; call until the
    /// report's total is 0 to drain.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn purge_expired(&self, limit: usize) -> Result<PurgeReport, ManageError> {
        Ok(self.store.purge_expired(self.now(), limit).await?)
    }
}
