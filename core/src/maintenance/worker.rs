//! The loops each maintenance task runs, and the one rule they share:
//! once shutdown is asked, no new step starts, and the step in progress
//! gets until the deadline to finish.

use std::error::Error as StdError;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::report::Counters;
use super::{Callback, MaintenanceConfig, Rechecks};
use crate::model::Event;
use crate::storage::Storage;
use crate::Engine;

/// What every task holds: the engine, the settings, the counters and the
/// stop signal (the shutdown deadline, once there is one).
pub(super) struct Ctx<S: ?Sized> {
    pub(super) engine: Engine<S>,
    pub(super) config: Arc<MaintenanceConfig>,
    pub(super) counters: Arc<Counters>,
    pub(super) stop: watch::Receiver<Option<Instant>>,
    pub(super) sessions: Option<Arc<crate::web::Sessions>>,
}

/// Aborts the callback task when the consumer gives up waiting for it, so
/// an abandoned callback does not run on unobserved.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An error and its causes on one line, for the report.
pub(super) fn describe(what: &str, e: &(dyn StdError + 'static)) -> String {
    let mut s = format!("{what}: {e}");
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(&format!(": {c}"));
        cause = c.source();
    }
    s
}

impl<S: Storage + ?Sized + 'static> Ctx<S> {
    /// The shutdown deadline, once shutdown was asked.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let d = *self.stop.borrow();
        // The handle always sends a deadline before it goes away; a closed
        // channel without one still means stop.
        if d.is_none() && self.stop.has_changed().is_err() {
            return Some(Instant::now());
        }
        d
    }

    async fn stopped(&mut self) {
        // An error means the sender is gone, which is a stop as well.
        let _ = self.stop.wait_for(Option::is_some).await;
    }

    /// Runs one step to completion; once shutdown is asked, only until the
    /// deadline. `None` means the step was abandoned.
    pub(super) async fn step<F: Future>(&mut self, fut: F) -> Option<F::Output> {
        tokio::pin!(fut);
        if self.deadline().is_none() {
            tokio::select! {
                out = &mut fut => return Some(out),
                () = self.stopped() => {}
            }
        }
        let deadline = self.deadline().unwrap_or_else(Instant::now);
        let out = tokio::time::timeout_at(deadline, fut).await.ok();
        if out.is_none() {
            self.counters.abandoned();
        }
        out
    }

    /// Sleeps for `d`, cut short by shutdown; `false` when shutting down.
    pub(super) async fn pause(&mut self, d: Duration) -> bool {
        if self.deadline().is_some() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(d) => true,
            () = self.stopped() => false,
        }
    }

    /// Purges until a call removes nothing, then waits for the interval.
    pub(super) async fn purge(mut self) {
        let mut backoff = Backoff::new();
        loop {
            if self.deadline().is_some() {
                return;
            }
            let engine = self.engine.clone();
            let Some(result) = self
                .step(engine.purge_expired(self.config.purge_batch))
                .await
            else {
                return;
            };
            let wait = match result {
                Ok(report) => {
                    backoff.reset();
                    self.counters.purged(&report);
                    if report.total() > 0 {
                        // A store that never suspends (the memory store)
                        // must not monopolise the runtime while draining.
                        tokio::task::yield_now().await;
                        continue;
                    }
                    if let Some(sessions) = self.sessions.clone() {
                        match sessions.purge_expired().await {
                            Ok(n) => self.counters.sessions_purged(n as u64),
                            Err(e) => self.counters.storage_failed(describe("session purge", &e)),
                        }
                    }
                    if self.engine.config().registration.is_some() {
                        let purged = self
                            .engine
                            .purge_unused_registrations(self.config.purge_batch)
                            .await;
                        match purged {
                            Ok(n) => self.counters.registrations_purged(n),
                            Err(e) => self
                                .counters
                                .storage_failed(describe("registration purge", &e)),
                        }
                    }
                    self.counters.purge_run();
                    self.config.purge_interval
                }
                Err(e) => {
                    self.counters.storage_failed(describe("purge", &e));
                    backoff.next(&self.config, &*self.engine.entropy)
                }
            };
            if !self.pause(wait).await {
                return;
            }
        }
    }

    /// Re-checks the domains that are due, then waits for the interval.
    pub(super) async fn recheck(mut self, r: Rechecks) {
        let mut backoff = Backoff::new();
        loop {
            if self.deadline().is_some() {
                return;
            }
            let engine = self.engine.clone();
            let run = engine.recheck_due_domains(&*r.verifier, &r.policy, self.config.recheck_page);
            let Some(result) = self.step(run).await else {
                return;
            };
            let wait = match result {
                Ok(report) => {
                    backoff.reset();
                    self.counters.rechecked(&report);
                    self.config.recheck_interval
                }
                Err(e) => {
                    self.counters
                        .storage_failed(describe("domain re-check", &e));
                    backoff.next(&self.config, &*self.engine.entropy)
                }
            };
            if !self.pause(wait).await {
                return;
            }
        }
    }

    /// Polls, hands each batch to `callback`, acknowledges it once the
    /// callback succeeded, and starts again from the first unacknowledged
    /// event after any failure.
    pub(super) async fn consume(mut self, name: String, callback: Callback) {
        let mut backoff = Backoff::new();
        loop {
            if self.deadline().is_some() {
                return;
            }
            let engine = self.engine.clone();
            let Some(polled) = self
                .step(engine.poll_events(&name, self.config.event_batch))
                .await
            else {
                return;
            };
            let wait = match polled {
                Ok(events) if events.is_empty() => {
                    backoff.reset();
                    Some(self.config.poll_interval)
                }
                Ok(events) => match self.deliver(&engine, &name, &callback, events).await {
                    None => return,
                    Some(Delivered::Acked) => {
                        backoff.reset();
                        None
                    }
                    Some(Delivered::Failed) => {
                        Some(backoff.next(&self.config, &*self.engine.entropy))
                    }
                },
                Err(e) => {
                    self.counters
                        .storage_failed(describe(&format!("poll {name}"), &e));
                    Some(backoff.next(&self.config, &*self.engine.entropy))
                }
            };
            if let Some(wait) = wait {
                if !self.pause(wait).await {
                    return;
                }
            }
        }
    }

    /// One batch: callback, then acknowledgement. `None` when abandoned at
    /// shutdown.
    async fn deliver(
        &mut self,
        engine: &Engine<S>,
        name: &str,
        callback: &Callback,
        events: Vec<Event>,
    ) -> Option<Delivered> {
        let last = events.last().map_or(0, |e| e.seq);
        let count = events.len();
        // Its own task, so a panicking callback is a failure like any other
        // rather than the end of this consumer; dropping `task` (abandoned at
        // shutdown) aborts it.
        let task = AbortOnDrop(tokio::spawn(callback(events)));
        let joined = self
            .step(async move {
                let mut task = task;
                (&mut task.0).await
            })
            .await?;
        let failure = match joined {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(describe(&format!("consumer {name}"), &*e)),
            Err(e) => Some(describe(&format!("consumer {name}"), &e)),
        };
        if let Some(failure) = failure {
            self.counters.callback_failed(failure);
            return Some(Delivered::Failed);
        }
        match self.step(engine.ack_events(name, last)).await? {
            Ok(()) => {
                self.counters.acked(count);
                Some(Delivered::Acked)
            }
            Err(e) => {
                self.counters
                    .storage_failed(describe(&format!("ack {name}"), &e));
                Some(Delivered::Failed)
            }
        }
    }
}

/// How a delivered batch ended.
enum Delivered {
    /// The callback succeeded and the batch is acknowledged.
    Acked,
    /// The callback or the acknowledgement failed: the batch comes again.
    Failed,
}
