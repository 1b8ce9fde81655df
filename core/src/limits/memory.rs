//! The in-memory rate limiter: one process, bounded.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;

use super::{window_of, LimiterError, RateLimiter, Rule, Verdict};
use crate::clock::Timestamp;

/// Most keys [`MemoryRateLimiter::new`] keeps.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

const SHARDS: usize = 16;

/// A window's count for one key.
#[derive(Clone, Copy)]
struct Count {
    start: u64,
    window: u64,
    n: u32,
}

type Shard = HashMap<[u8; 16], Count>;

/// Fixed-window counters in memory, in shards so concurrent requests
/// rarely wait for each other, and bounded: when full, ended windows are
/// dropped first, then arbitrary ones. Dropping a count only forgets past
/// events (the key starts again), so filling the table with keys of one's
/// own never locks anybody else out.
pub struct MemoryRateLimiter {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
}

impl std::fmt::Debug for MemoryRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryRateLimiter")
            .field("max_keys", &(self.per_shard * SHARDS))
            .finish_non_exhaustive()
    }
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_KEYS)
    }
}

impl MemoryRateLimiter {
    /// A limiter keeping at most about `max_keys` counts.
    #[must_use]
    pub fn new(max_keys: usize) -> Self {
        MemoryRateLimiter {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: (max_keys / SHARDS).max(1),
        }
    }

    fn shard(&self, key: &[u8; 16]) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[usize::from(key[0]) % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes room for one more key in a full shard.
    fn make_room(&self, shard: &mut Shard, now: u64) {
        shard.retain(|_, c| c.start + c.window > now);
        if shard.len() >= self.per_shard {
            let keep = self.per_shard * 3 / 4;
            let drop: Vec<[u8; 16]> = shard.keys().skip(keep).copied().collect();
            for k in drop {
                shard.remove(&k);
            }
        }
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(
        &self,
        key: &[u8; 16],
        rule: Rule,
        now: Timestamp,
    ) -> Result<Verdict, LimiterError> {
        let (start, left) = window_of(rule, now);
        let mut shard = self.shard(key);
        if !shard.contains_key(key) && shard.len() >= self.per_shard {
            self.make_room(&mut shard, now.0);
        }
        let c = shard.entry(*key).or_insert(Count {
            start,
            window: rule.window,
            n: 0,
        });
        if c.start != start || c.window != rule.window {
            *c = Count {
                start,
                window: rule.window,
                n: 0,
            };
        }
        c.n = c.n.saturating_add(1);
        Ok(rule.after_hit(u64::from(c.n), left))
    }

    async fn check(
        &self,
        key: &[u8; 16],
        rule: Rule,
        now: Timestamp,
    ) -> Result<Verdict, LimiterError> {
        let (start, left) = window_of(rule, now);
        let shard = self.shard(key);
        let count = match shard.get(key) {
            Some(c) if c.start == start && c.window == rule.window => u64::from(c.n),
            _ => 0,
        };
        Ok(rule.before_hit(count, left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::key;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        // The limiter never awaits, so one poll finishes it.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => unreachable!("the memory limiter never waits"),
        }
    }

    #[test]
    fn counts_per_key_and_window() {
        let l = MemoryRateLimiter::default();
        let rule = Rule::per_minute(2);
        let (a, b) = (key(&["a"]), key(&["b"]));
        let t = Timestamp(600);
        assert_eq!(block_on(l.hit(&a, rule, t)).unwrap(), Verdict::Allow);
        assert_eq!(block_on(l.check(&a, rule, t)).unwrap(), Verdict::Allow);
        assert_eq!(block_on(l.hit(&a, rule, t)).unwrap(), Verdict::Allow);
        assert_eq!(
            block_on(l.check(&a, rule, Timestamp(610))).unwrap(),
            Verdict::Deny { retry_after: 50 }
        );
        assert_eq!(
            block_on(l.hit(&a, rule, Timestamp(610))).unwrap(),
            Verdict::Deny { retry_after: 50 }
        );
        assert_eq!(
            block_on(l.hit(&b, rule, t)).unwrap(),
            Verdict::Allow,
            "others unaffected"
        );
        assert_eq!(
            block_on(l.hit(&a, rule, Timestamp(660))).unwrap(),
            Verdict::Allow,
            "a new window"
        );
    }

    #[test]
    fn stays_bounded_and_forgets_rather_than_locks() {
        let l = MemoryRateLimiter::new(64);
        let rule = Rule::per_minute(1);
        let victim = key(&["victim"]);
        let t = Timestamp(0);
        assert_eq!(block_on(l.hit(&victim, rule, t)).unwrap(), Verdict::Allow);
        for i in 0..10_000 {
            block_on(l.hit(&key(&[&i.to_string()]), rule, t)).unwrap();
        }
        let total: usize = l.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= 64, "{total} keys");
        // Forgotten or still counted: either way at most one more is let
        // through, and nobody else's flood made it deny.
        let v = block_on(l.hit(&victim, rule, Timestamp(59))).unwrap();
        assert!(matches!(v, Verdict::Allow | Verdict::Deny { .. }));
        assert_eq!(
            block_on(l.hit(&victim, rule, Timestamp(60))).unwrap(),
            Verdict::Allow
        );
    }
}
