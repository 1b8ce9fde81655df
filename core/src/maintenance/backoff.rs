//! Exponential back-off with a cap and jitter, so instances that failed
//! together (a database restart) do not all retry in the same instant.

use std::time::Duration;

use super::MaintenanceConfig;
use crate::entropy::Entropy;

/// Consecutive failures of one task, and the pause each one earns.
#[derive(Debug)]
pub(super) struct Backoff {
    failures: u32,
}

impl Backoff {
    pub(super) fn new() -> Self {
        Backoff { failures: 0 }
    }

    /// Forgets earlier failures after a success.
    pub(super) fn reset(&mut self) {
        self.failures = 0;
    }

    /// Records a failure and returns how long to wait before trying again.
    pub(super) fn next(&mut self, config: &MaintenanceConfig, entropy: &dyn Entropy) -> Duration {
        let mut r = [0u8; 4];
        // A failed randomness source only costs the jitter.
        let _ = entropy.fill(&mut r);
        let delay = delay(self.failures, config, u32::from_le_bytes(r));
        self.failures = self.failures.saturating_add(1);
        delay
    }
}

/// "Equal jitter": half of the capped exponential delay is fixed, half is
/// random, so the pause never collapses to zero and never exceeds the cap.
fn delay(failures: u32, config: &MaintenanceConfig, random: u32) -> Duration {
    let exp = config
        .backoff_initial
        .saturating_mul(1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX));
    let capped = exp.min(config.backoff_max);
    let half = capped / 2;
    let jitter = half.mul_f64(f64::from(random) / f64::from(u32::MAX));
    half + jitter
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MaintenanceConfig {
        MaintenanceConfig {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            ..MaintenanceConfig::default()
        }
    }

    #[test]
    fn grows_exponentially_then_stays_at_the_cap() {
        let c = config();
        let top: Vec<_> = (0..10).map(|n| delay(n, &c, u32::MAX)).collect();
        assert_eq!(top[0], Duration::from_millis(100));
        assert_eq!(top[1], Duration::from_millis(200));
        assert_eq!(top[3], Duration::from_millis(800));
        assert_eq!(top[9], Duration::from_secs(5));
        assert_eq!(delay(u32::MAX, &c, u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn jitter_stays_between_half_and_the_full_delay() {
        let c = config();
        for n in 0..40 {
            let full = c
                .backoff_initial
                .saturating_mul(1 << n.min(31))
                .min(c.backoff_max);
            let low = delay(n, &c, 0);
            let high = delay(n, &c, u32::MAX);
            assert_eq!(low, full / 2, "failure {n}");
            assert_eq!(high, full, "failure {n}");
            let mid = delay(n, &c, u32::MAX / 2);
            assert!(low < mid && mid < high, "failure {n}");
        }
    }
}
