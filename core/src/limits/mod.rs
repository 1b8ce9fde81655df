//! Abuse controls: rate limits per source address and per client on the
//! OAuth endpoints, so a flood from one address or one client never locks
//! out anyone else.
//!
//! A [`RateLimiter`] counts events per key in fixed windows;
//! [`MemoryRateLimiter`] (bounded, one process) is the default and
//! `RedisRateLimiter` (feature `redis`) shares the counts between
//! instances. [`Limits`] says which rule applies where; the route table
//! ([`crate::web::routes`], so every framework integration) applies them
//! around the engine's endpoints:
//!
//! | what | key | default |
//! |---|---|---|
//! | every OAuth request | source address | 600 a minute |
//! | authorization endpoint, consent, code entry | source address | 120 a minute |
//! | client registration (RFC 7591) | source address | 20 an hour |
//! | device authorization (RFC 8628 §3.1) | source address | 30 a minute |
//! | failed client authentication | client and address | 10 in 5 minutes |
//! | failed client authentication | address | 50 in 5 minutes |
//! | successful token / introspection requests | client | 6,000 / 60,000 a minute |
//!
//! Failures are counted per client *and* address, so somebody guessing a
//! client's secret from one address stops themselves, not the client.
//! A client's own budget counts only requests it authenticated (or, for a
//! public client, that succeeded), so nobody can spend it for them.
//! Answers are `429` with `Retry-After` ([`crate::Error::RateLimited`]);
//! the device grant's polling rate is RFC 8628's `slow_down`, not this.
//!
//! When the limiter itself fails (a shared store is unreachable), requests
//! are let through: a broken limiter must not become an outage.

mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::borrow::Cow;

use async_trait::async_trait;

use crate::clock::Timestamp;

pub use memory::{MemoryRateLimiter, DEFAULT_MAX_KEYS};
#[cfg(feature = "redis")]
pub use redis::RedisRateLimiter;

/// At most `limit` events per `window` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Events allowed per window (`0` refuses everything).
    pub limit: u32,
    /// Window length in seconds (at least 1).
    pub window: u64,
}

impl Rule {
    /// `limit` events a minute.
    #[must_use]
    pub const fn per_minute(limit: u32) -> Self {
        Rule { limit, window: 60 }
    }

    /// `limit` events in `window` seconds.
    #[must_use]
    pub const fn per(limit: u32, window: u64) -> Self {
        Rule { limit, window }
    }

    /// The verdict on an event that made the window's count `count` (the
    /// event included), `left` seconds before the window ends: what every
    /// [`RateLimiter::hit`] answers.
    #[must_use]
    pub fn after_hit(self, count: u64, left: u64) -> Verdict {
        if count <= u64::from(self.limit) {
            Verdict::Allow
        } else {
            Verdict::Deny { retry_after: left }
        }
    }

    /// The verdict on a window that counts `count` events so far: whether
    /// one more would still fit, as every [`RateLimiter::check`] answers.
    #[must_use]
    pub fn before_hit(self, count: u64, left: u64) -> Verdict {
        self.after_hit(count.saturating_add(1), left)
    }
}

/// The source address a request's limits key on (`-` for requests without
/// one, which share a budget).
pub(crate) fn source(req: &crate::http::HttpRequest) -> String {
    req.peer.map_or_else(|| "-".to_owned(), |a| a.to_string())
}

/// Whether an event may go ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Under the limit.
    Allow,
    /// Over it: try again in this many seconds.
    Deny {
        /// Seconds until the window ends.
        retry_after: u64,
    },
}

/// Why a limiter could not answer.
#[derive(Debug, thiserror::Error)]
#[error("rate limiter unavailable: {0}")]
pub struct LimiterError(pub Cow<'static, str>);

/// Counts events per key in fixed windows of each rule.
///
/// Keys are already hashed to a fixed size by the caller ([`key`]), so a
/// limiter never sees a client id or address in the clear and its memory
/// per key is bounded.
#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one event for `key` under `rule` at `now` and says whether it
    /// is within the limit (the counted event included).
    ///
    /// # Errors
    /// When the shared store cannot be reached.
    async fn hit(
        &self,
        key: &[u8; 16],
        rule: Rule,
        now: Timestamp,
    ) -> Result<Verdict, LimiterError>;

    /// Whether `key` is already over `rule` at `now`, without counting.
    ///
    /// # Errors
    /// When the shared store cannot be reached.
    async fn check(
        &self,
        key: &[u8; 16],
        rule: Rule,
        now: Timestamp,
    ) -> Result<Verdict, LimiterError>;
}

/// The fixed-size key of `parts` (SHA-256, truncated): what is limited
/// (`"token"`, `"fail"`…) and by whom (an address, a client id).
#[must_use]
pub fn key(parts: &[&str]) -> [u8; 16] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for p in parts {
        // Length-prefixed, so ("ab","c") and ("a","bc") differ.
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p.as_bytes());
    }
    let d = ctx.finish();
    let mut out = [0u8; 16];
    out.copy_from_slice(&d.as_ref()[..16]);
    out
}

/// The start of the window `now` falls in, and the seconds left in it.
#[must_use]
pub fn window_of(rule: Rule, now: Timestamp) -> (u64, u64) {
    let w = rule.window.max(1);
    let start = now.0 - now.0 % w;
    (start, start + w - now.0)
}

/// Which rule applies where (see the module docs for the defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Every request to an OAuth endpoint, per source address.
    pub per_address: Rule,
    /// The authorization endpoint, the consent page and the device
    /// code-entry page, per source address.
    pub browser_per_address: Rule,
    /// Client registration and management (RFC 7591/7592), per address.
    pub registration_per_address: Rule,
    /// Device authorization requests (RFC 8628 §3.1), per address.
    pub device_per_address: Rule,
    /// Failed client authentications, per client id and address.
    pub failed_auth_per_client: Rule,
    /// Failed client authentications, per address.
    pub failed_auth_per_address: Rule,
    /// Successful token requests, per client.
    pub token_per_client: Rule,
    /// Successful introspection requests, per client.
    pub introspect_per_client: Rule,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_address: Rule::per_minute(600),
            browser_per_address: Rule::per_minute(120),
            registration_per_address: Rule::per(20, 3600),
            device_per_address: Rule::per_minute(30),
            failed_auth_per_client: Rule::per(10, 300),
            failed_auth_per_address: Rule::per(50, 300),
            token_per_client: Rule::per_minute(6_000),
            introspect_per_client: Rule::per_minute(60_000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_length_prefixed_and_windows_align() {
        assert_ne!(key(&["ab", "c"]), key(&["a", "bc"]));
        assert_eq!(key(&["a", "b"]), key(&["a", "b"]));
        assert_eq!(window_of(Rule::per_minute(1), Timestamp(125)), (120, 55));
        assert_eq!(window_of(Rule::per(1, 0), Timestamp(7)), (7, 1));
    }
}
