//! Background maintenance on tokio (feature `tokio`): purging expired
//! records and driving outbox consumers, so a host does not write these
//! loops itself.
//!
//! - **Purge**: [`crate::Engine::purge_expired`] is called until it removes
//!   nothing, then the task sleeps for
//!   [`MaintenanceConfig::purge_interval`].
//! - **Outbox consumers**: for each consumer, up to
//!   [`MaintenanceConfig::event_batch`] events are polled
//!   ([`crate::Engine::poll_events`]), handed to the host's async callback,
//!   and acknowledged ([`crate::Engine::ack_events`]) only after the
//!   callback returned `Ok`. Batches arrive in `seq` order, one at a time.
//!   Delivery is *at least once*: after a callback error, a panic, a storage
//!   failure or a shutdown mid-batch, the same events come again, so
//!   callbacks must be idempotent (the event `seq` is a good key).
//! - **Domain re-checks** (opt-in, [`Maintenance::domain_rechecks`]):
//!   [`crate::Engine::recheck_due_domains`] every
//!   [`MaintenanceConfig::recheck_interval`], so a verified domain whose
//!   proof disappears stops counting (see [`crate::domains`]).
//! - **Failures** (callback or storage) are retried with exponential
//!   back-off, capped at [`MaintenanceConfig::backoff_max`], with jitter so
//!   that instances do not retry in lockstep. Nothing is ever acknowledged
//!   that a callback did not accept.
//! - **Shutdown**: [`MaintenanceHandle::shutdown`] stops the tasks from
//!   starting new work, lets the step in progress (a purge call, or a
//!   batch and its acknowledgement) finish within
//!   [`MaintenanceConfig::shutdown_grace`], abandons it otherwise (an
//!   abandoned callback is aborted and its batch is not acknowledged), and
//!   returns the [`MaintenanceReport`].
//! - **Dropping the handle** does the same without waiting: the tasks are
//!   told to stop and end by themselves within the grace period, so none is
//!   left running. (Aborting them at once was the alternative; it would cut
//!   an almost finished batch short for no gain, as it is delivered again
//!   anyway.) Call [`MaintenanceHandle::shutdown`] to know when they ended.
//!
//! Several instances may run maintenance on one database: purges are
//! idempotent, and each consumer name is one cursor, so give each instance's
//! consumer its own name if every instance must see every event, or run a
//! consumer on one instance only if each event must be handled once.
//!
//! ```
//! use std::sync::Arc;
//! use latchkey::maintenance::{Maintenance, MaintenanceConfig};
//! use latchkey::model::Event;
//! use latchkey::{Engine, EngineConfig, Keyring, MemoryStore, ScopeRegistry};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let config = EngineConfig::new("https://auth.example", ScopeRegistry::new());
//! let keys = Keyring::new(&[(0, [7; 32])]).unwrap();
//! let engine = Engine::new(Arc::new(MemoryStore::new()), config, keys);
//!
//! let handle = Maintenance::new(engine, MaintenanceConfig::default())
//!     .consumer("audit-log", |events: Vec<Event>| async move {
//!         for e in &events {
//!             println!("event {} at {:?}: {:?}", e.seq, e.at, e.kind);
//!         }
//!         Ok::<(), std::io::Error>(())
//!     })
//!     .spawn();
//! // … serve requests …
//! let report = handle.shutdown().await;
//! println!("{report:?}");
//! # }
//! ```

mod backoff;
mod config;
mod report;
mod rotation;
mod worker;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::domains::{DomainVerifier, RecheckPolicy};
use crate::model::Event;
use crate::storage::Storage;
use crate::Engine;

pub use config::MaintenanceConfig;
pub use report::MaintenanceReport;

use report::Counters;
use worker::Ctx;

/// The error a consumer callback may return: anything, boxed.
pub type CallbackError = Box<dyn std::error::Error + Send + Sync + 'static>;

type CallbackFuture = Pin<Box<dyn Future<Output = Result<(), CallbackError>> + Send + 'static>>;
type Callback = Arc<dyn Fn(Vec<Event>) -> CallbackFuture + Send + Sync + 'static>;

/// What to run: built with [`Maintenance::new`], started with
/// [`Maintenance::spawn`].
pub struct Maintenance<S: ?Sized> {
    engine: Engine<S>,
    config: MaintenanceConfig,
    purge: bool,
    sessions: Option<Arc<crate::web::Sessions>>,
    consumers: Vec<(String, Callback)>,
    rechecks: Option<Rechecks>,
}

/// What the domain re-check task needs.
#[derive(Clone)]
pub(super) struct Rechecks {
    pub(super) verifier: Arc<dyn DomainVerifier>,
    pub(super) policy: RecheckPolicy,
}

impl<S: ?Sized> std::fmt::Debug for Maintenance<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maintenance")
            .field("config", &self.config)
            .field("purge", &self.purge)
            .field("domain_rechecks", &self.rechecks.as_ref().map(|r| r.policy))
            .field(
                "consumers",
                &self.consumers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<S: Storage + ?Sized + 'static> Maintenance<S> {
    /// Purging on `engine`, and no consumer yet.
    #[must_use]
    pub fn new(engine: Engine<S>, config: MaintenanceConfig) -> Self {
        Maintenance {
            engine,
            config,
            purge: true,
            sessions: None,
            consumers: Vec::new(),
            rechecks: None,
        }
    }

    /// Also re-checks verified domains with `verifier` as `policy` says,
    /// in a task of its own woken every
    /// [`MaintenanceConfig::recheck_interval`]. Run it on one instance
    /// (several would only check the same domains more often).
    #[must_use]
    pub fn domain_rechecks(
        mut self,
        verifier: Arc<dyn DomainVerifier>,
        policy: RecheckPolicy,
    ) -> Self {
        self.rechecks = Some(Rechecks { verifier, policy });
        self
    }

    /// Also purges `sessions` of browser sessions past their idle timeout
    /// or absolute lifetime, after each drained purge of the engine's
    /// records. A storage-backed session store (shared by instances) has
    /// no other bound on anonymous sessions than this.
    #[must_use]
    pub fn sessions(mut self, sessions: Arc<crate::web::Sessions>) -> Self {
        self.sessions = Some(sessions);
        self
    }

    /// Does not purge (for instances that leave purging to another one).
    #[must_use]
    pub fn without_purge(mut self) -> Self {
        self.purge = false;
        self
    }

    /// Adds an outbox consumer: `name` is its cursor in the outbox (events
    /// are kept until every consumer that ever polled acknowledged them),
    /// `callback` gets each batch, in order, and returns `Ok` once it has
    /// durably handled every event of the batch.
    ///
    /// # Panics
    /// When `name` was already added: two tasks on one cursor would deliver
    /// every event twice and acknowledge each other's batches.
    #[must_use]
    pub fn consumer<F, Fut, E>(mut self, name: impl Into<String>, callback: F) -> Self
    where
        F: Fn(Vec<Event>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<CallbackError>,
    {
        let name = name.into();
        assert!(
            self.consumers.iter().all(|(n, _)| *n != name),
            "outbox consumer {name:?} added twice"
        );
        let callback: Callback = Arc::new(move |events| {
            let fut = callback(events);
            Box::pin(async move { fut.await.map_err(Into::into) })
        });
        self.consumers.push((name, callback));
        self
    }

    /// Starts one task for purging and one per consumer.
    ///
    /// # Panics
    /// When called outside a tokio runtime.
    #[must_use = "dropping the handle stops the tasks"]
    pub fn spawn(self) -> MaintenanceHandle {
        let (stop_tx, stop_rx) = watch::channel(None);
        let counters = Arc::new(Counters::default());
        let config = Arc::new(self.config);
        let ctx = || Ctx {
            engine: self.engine.clone(),
            config: config.clone(),
            counters: counters.clone(),
            stop: stop_rx.clone(),
            sessions: self.sessions.clone(),
        };
        let mut tasks = Vec::new();
        if self.purge {
            tasks.push(tokio::spawn(ctx().purge()));
        }
        if let Some(interval) = config.signing_key_rotation {
            tasks.push(tokio::spawn(ctx().rotate_keys(interval)));
        }
        for (name, callback) in self.consumers {
            tasks.push(tokio::spawn(ctx().consume(name, callback)));
        }
        if let Some(r) = self.rechecks {
            tasks.push(tokio::spawn(ctx().recheck(r)));
        }
        MaintenanceHandle {
            stop: stop_tx,
            tasks,
            counters,
            grace: config.shutdown_grace,
        }
    }
}

/// The running maintenance tasks. Dropping it stops them (see the
/// [module docs](self)); [`MaintenanceHandle::shutdown`] also waits.
#[derive(Debug)]
pub struct MaintenanceHandle {
    stop: watch::Sender<Option<Instant>>,
    tasks: Vec<JoinHandle<()>>,
    counters: Arc<Counters>,
    grace: std::time::Duration,
}

impl MaintenanceHandle {
    /// What the tasks did so far.
    #[must_use]
    pub fn report(&self) -> MaintenanceReport {
        self.counters.snapshot()
    }

    /// Stops the tasks, waits for them (at most about the shutdown grace
    /// period: the step in progress is abandoned when it runs longer) and
    /// returns what they did.
    pub async fn shutdown(mut self) -> MaintenanceReport {
        self.signal();
        for task in std::mem::take(&mut self.tasks) {
            // A task only ends with an error if it panicked, which the
            // counters cannot undo; report what was counted.
            let _ = task.await;
        }
        self.counters.snapshot()
    }

    fn signal(&self) {
        let deadline = Instant::now() + self.grace;
        // Only the first signal sets the deadline.
        self.stop.send_if_modified(|d| {
            if d.is_none() {
                *d = Some(deadline);
                true
            } else {
                false
            }
        });
    }
}

impl Drop for MaintenanceHandle {
    fn drop(&mut self) {
        self.signal();
    }
}
