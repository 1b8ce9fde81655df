//! Fault hooks: named points inside write transactions where tests can make
//! a call panic or stall (and then kill the process). Without the
//! `test-hooks` feature they compile to nothing.

#[cfg(feature = "test-hooks")]
use std::sync::{Arc, RwLock};

/// The callback type: `(operation, stage)`, e.g. `("redeem_code", "mid")`.
#[cfg(feature = "test-hooks")]
pub type FaultHook = dyn Fn(&str, &str) + Send + Sync;

/// The hook slot of one store.
#[derive(Default)]
pub(crate) struct Hooks {
    #[cfg(feature = "test-hooks")]
    hook: RwLock<Option<Arc<FaultHook>>>,
}

impl Hooks {
    /// Runs the hook, if any, at `stage` of `op`.
    #[inline]
    #[cfg_attr(not(feature = "test-hooks"), allow(unused_variables))]
    pub(crate) fn fire(&self, op: &str, stage: &str) {
        #[cfg(feature = "test-hooks")]
        {
            // Clone out of the lock so a hook that panics cannot poison it.
            let hook = self.hook.read().ok().and_then(|h| h.clone());
            if let Some(hook) = hook {
                hook(op, stage);
            }
        }
    }

    /// Installs or clears the hook.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn set(&self, hook: Option<Arc<FaultHook>>) {
        match self.hook.write() {
            Ok(mut slot) => *slot = hook,
            Err(poisoned) => *poisoned.into_inner() = hook,
        }
    }
}
