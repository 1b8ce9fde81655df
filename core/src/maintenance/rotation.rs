//! The signing-key rotation task: one [`crate::Engine::rotate_signing_key`]
//! call per interval, from every instance (the steps are atomic, so
//! instances racing take each step once between them).

use super::worker::{describe, Ctx};
use crate::storage::Storage;

impl<S: Storage + ?Sized + 'static> Ctx<S> {
    /// Calls `rotate_signing_key` every `interval`, until shutdown.
    pub(super) async fn rotate_keys(mut self, interval: std::time::Duration) {
        loop {
            if self.deadline().is_some() {
                return;
            }
            let engine = self.engine.clone();
            let now = engine.now();
            let Some(result) = self.step(engine.rotate_signing_key(now)).await else {
                return;
            };
            match result {
                Ok(r) => {
                    let changed = usize::from(r.bootstrapped.is_some())
                        + usize::from(r.published.is_some())
                        + usize::from(r.activated.is_some())
                        + r.retired.len();
                    self.counters.key_rotation_steps(changed as u64);
                }
                Err(e) => self
                    .counters
                    .storage_failed(describe("signing key rotation", &e)),
            }
            if !self.pause(interval).await {
                return;
            }
        }
    }
}
