//! What the maintenance tasks did, counted as they go so a host can log it
//! and a test can wait for it, even for a task abandoned at shutdown.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::storage::PurgeReport;

/// A snapshot of the maintenance counters since the tasks started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MaintenanceReport {
    /// Purge runs that drained every expired record.
    pub purge_runs: u64,
    /// Records removed, by kind.
    pub purged: PurgeReport,
    /// Expired browser sessions removed ([`super::Maintenance::sessions`]).
    pub sessions_purged: u64,
    /// Self-registered clients nobody approved within the registration
    /// policy's `unused_ttl`, deleted
    /// ([`crate::Engine::purge_unused_registrations`]).
    pub registrations_purged: u64,
    /// Event batches a consumer callback accepted and that were then
    /// acknowledged.
    pub batches_acked: u64,
    /// Events in those batches.
    pub events_acked: u64,
    /// Callback calls that returned an error (their events are delivered
    /// again after a back-off).
    pub callback_failures: u64,
    /// Storage calls (purge, poll or acknowledge) that failed.
    pub storage_failures: u64,
    /// Steps still running when the shutdown grace period ended, dropped
    /// unfinished (an unacknowledged batch is delivered again next time).
    pub abandoned: u64,
    /// Signing-key changes made by the rotation task (keys created,
    /// promoted or retired).
    pub key_rotation_steps: u64,
    /// The most recent failure, for logs.
    pub last_error: Option<String>,
    /// Domain re-check runs completed ([`super::Maintenance::domain_rechecks`]).
    pub recheck_runs: u64,
    /// Domains re-checked.
    pub domains_checked: u64,
    /// Domains that lapsed (their proof was gone).
    pub domains_lapsed: u64,
    /// Lapsed domains verified again.
    pub domains_restored: u64,
}

/// The live counters behind [`MaintenanceReport`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    purge_runs: AtomicU64,
    purged: Mutex<PurgeReport>,
    sessions_purged: AtomicU64,
    registrations_purged: AtomicU64,
    batches_acked: AtomicU64,
    events_acked: AtomicU64,
    callback_failures: AtomicU64,
    storage_failures: AtomicU64,
    abandoned: AtomicU64,
    key_rotation_steps: AtomicU64,
    last_error: Mutex<Option<String>>,
    recheck_runs: AtomicU64,
    domains_checked: AtomicU64,
    domains_lapsed: AtomicU64,
    domains_restored: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    pub(super) fn purged(&self, r: &PurgeReport) {
        let mut p = self.purged.lock().unwrap_or_else(|e| e.into_inner());
        p.challenges += r.challenges;
        p.codes += r.codes;
        p.access_tokens += r.access_tokens;
        p.families += r.families;
        p.events += r.events;
    }

    pub(super) fn sessions_purged(&self, n: u64) {
        bump(&self.sessions_purged, n);
    }

    pub(super) fn registrations_purged(&self, n: u64) {
        bump(&self.registrations_purged, n);
    }

    pub(super) fn purge_run(&self) {
        bump(&self.purge_runs, 1);
    }

    pub(super) fn acked(&self, events: usize) {
        bump(&self.events_acked, events as u64);
        bump(&self.batches_acked, 1);
    }

    pub(super) fn callback_failed(&self, what: String) {
        bump(&self.callback_failures, 1);
        self.last_error(what);
    }

    pub(super) fn storage_failed(&self, what: String) {
        bump(&self.storage_failures, 1);
        self.last_error(what);
    }

    pub(super) fn key_rotation_steps(&self, n: u64) {
        bump(&self.key_rotation_steps, n);
    }

    pub(super) fn rechecked(&self, r: &crate::domains::RecheckReport) {
        bump(&self.recheck_runs, 1);
        bump(&self.domains_checked, r.checked);
        bump(&self.domains_lapsed, r.lapsed);
        bump(&self.domains_restored, r.restored);
    }

    pub(super) fn abandoned(&self) {
        bump(&self.abandoned, 1);
    }

    fn last_error(&self, what: String) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(what);
    }

    pub(super) fn snapshot(&self) -> MaintenanceReport {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MaintenanceReport {
            purge_runs: get(&self.purge_runs),
            purged: *self.purged.lock().unwrap_or_else(|e| e.into_inner()),
            sessions_purged: get(&self.sessions_purged),
            registrations_purged: get(&self.registrations_purged),
            batches_acked: get(&self.batches_acked),
            events_acked: get(&self.events_acked),
            callback_failures: get(&self.callback_failures),
            storage_failures: get(&self.storage_failures),
            abandoned: get(&self.abandoned),
            key_rotation_steps: get(&self.key_rotation_steps),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            recheck_runs: get(&self.recheck_runs),
            domains_checked: get(&self.domains_checked),
            domains_lapsed: get(&self.domains_lapsed),
            domains_restored: get(&self.domains_restored),
        }
    }
}
