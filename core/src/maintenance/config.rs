//! Intervals, batch sizes and back-off of the maintenance tasks.

use std::time::Duration;

/// How often and how much the maintenance tasks work. The defaults suit a
/// small or medium deployment. Fields may be added in later versions, so
/// start from the defaults and change what you need:
///
/// ```
/// # use std::time::Duration;
/// let mut config = latchkey::maintenance::MaintenanceConfig::default();
/// config.purge_interval = Duration::from_secs(300);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MaintenanceConfig {
    /// Pause between purge runs; each run drains every expired record.
    /// Default 60 s: expired records are already invisible to the engine,
    /// purging only reclaims space.
    pub purge_interval: Duration,
    /// Records of each kind removed per [`crate::Engine::purge_expired`]
    /// call. Default 500: short transactions that do not hold up requests.
    pub purge_batch: usize,
    /// Pause before polling an outbox that was empty. Default 1 s: how
    /// late a consumer may learn of an event.
    pub poll_interval: Duration,
    /// Events handed to a consumer callback at most at once. Default 100.
    pub event_batch: usize,
    /// First pause after a failure (callback or storage). Default 500 ms.
    pub backoff_initial: Duration,
    /// Longest pause after repeated failures. Default 60 s.
    pub backoff_max: Duration,
    /// How long shutdown waits for a batch in progress (a purge call, or a
    /// consumer callback and its acknowledgement) before abandoning it.
    /// An abandoned batch is not acknowledged and will be delivered again.
    /// Default 10 s.
    pub shutdown_grace: Duration,
    /// Calls [`crate::Engine::rotate_signing_key`] this often when set
    /// (default `None`: no rotation task). Each rotation takes two calls,
    /// so keys change about every second interval; keep the interval at
    /// least [`crate::jwt::JwtConfig::publish_lead`].
    pub signing_key_rotation: Option<Duration>,
    /// Pause between runs of the domain re-check task (only with
    /// [`super::Maintenance::domain_rechecks`]). Each run checks the
    /// domains its [`crate::domains::RecheckPolicy`] says are due, so this
    /// only bounds how late a due check may be. Default 10 minutes.
    pub recheck_interval: Duration,
    /// Clients read per page while looking for due domains. Default 200.
    pub recheck_page: usize,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            purge_interval: Duration::from_secs(60),
            purge_batch: 500,
            poll_interval: Duration::from_secs(1),
            event_batch: 100,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
            signing_key_rotation: None,
            recheck_interval: Duration::from_secs(600),
            recheck_page: 200,
        }
    }
}
