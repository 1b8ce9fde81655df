//! The shared rate limiter on Redis (feature `redis`): every instance
//! counts in the same place, so a limit holds across a load balancer.

use async_trait::async_trait;
use redis::aio::MultiplexedConnection;

use super::{window_of, LimiterError, RateLimiter, Rule, Verdict};
use crate::clock::Timestamp;

/// Increments the window's counter and sets its expiry on first use, in
/// one atomic step (a script runs alone on the server).
const HIT: &str = "local n = redis.call('INCR', KEYS[1]) \
                   if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end \
                   return n";

/// Fixed-window counters in Redis: one key per limited key and window
/// (`<prefix><hex key>:<window start>`), expiring when the window ends.
#[derive(Clone)]
pub struct RedisRateLimiter {
    conn: MultiplexedConnection,
    prefix: String,
    hit: redis::Script,
}

impl std::fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: &redis::RedisError) -> LimiterError {
    LimiterError(format!("redis: {}", e.category()).into())
}

impl RedisRateLimiter {
    /// Connects to `url` (`redis://127.0.0.1:6379`); keys start with
    /// `prefix` (so several servers can share one Redis).
    ///
    /// # Errors
    /// When the URL is invalid or the server unreachable.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, LimiterError> {
        let client = redis::Client::open(url).map_err(|e| unavailable(&e))?;
        let conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(RedisRateLimiter {
            conn,
            prefix: prefix.to_owned(),
            hit: redis::Script::new(HIT),
        })
    }

    fn name(&self, key: &[u8; 16], start: u64) -> String {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}{hex}:{start}", self.prefix)
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn hit(
        &self,
        key: &[u8; 16],
        rule: Rule,
        now: Timestamp,
    ) -> Result<Verdict, LimiterError> {
        let (start, left) = window_of(rule, now);
        let mut conn = self.conn.clone();
        let n: u64 = self
            .hit
            .key(self.name(key, start))
            .arg(left + 1)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(rule.after_hit(n, left))
    }

    async fn check(
        &self,
        key: &[u8; 16],
        rule: Rule,
        now: Timestamp,
    ) -> Result<Verdict, LimiterError> {
        let (start, left) = window_of(rule, now);
        let mut conn = self.conn.clone();
        let n: Option<u64> = redis::cmd("GET")
            .arg(self.name(key, start))
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(rule.before_hit(n.unwrap_or(0), left))
    }
}
