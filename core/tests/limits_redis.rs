//! The shared rate limiter on a real Redis (127.0.0.1:6379, or
//! `LATCHKEY_TEST_REDIS_URL`): two instances count in one place, windows
//! end, and keys of different windows or prefixes never mix. Under
//! `CI=true` an unreachable Redis fails the test; elsewhere it is skipped
//! loudly.
#![cfg(feature = "redis")]

use latchkey::clock::Timestamp;
use latchkey::limits::{key, RateLimiter, RedisRateLimiter, Rule, Verdict};

async fn limiter(prefix: &str) -> Option<RedisRateLimiter> {
    let url = std::env::var("LATCHKEY_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    match RedisRateLimiter::connect(&url, prefix).await {
        Ok(l) => Some(l),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("Redis unreachable under CI: {e}")
        }
        Err(e) => {
            eprintln!("\n!!! SKIPPED: Redis unreachable at {url}: {e}\n");
            None
        }
    }
}

#[tokio::test]
async fn two_instances_share_one_count() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("lk-test-{}-{nanos}:", std::process::id());
    let (Some(a), Some(b)) = (limiter(&prefix).await, limiter(&prefix).await) else {
        return;
    };
    let rule = Rule::per_minute(3);
    let k = key(&["fail", "client", "192.0.2.1"]);
    // A minute boundary, so the window arithmetic below is exact.
    let t = Timestamp(1_800_000_000);
    assert_eq!(a.hit(&k, rule, t).await.unwrap(), Verdict::Allow);
    assert_eq!(b.hit(&k, rule, t).await.unwrap(), Verdict::Allow);
    assert_eq!(b.check(&k, rule, t).await.unwrap(), Verdict::Allow);
    assert_eq!(a.hit(&k, rule, t).await.unwrap(), Verdict::Allow);
    assert_eq!(
        b.check(&k, rule, Timestamp(t.0 + 10)).await.unwrap(),
        Verdict::Deny { retry_after: 50 },
        "the other instance sees the third hit"
    );
    assert_eq!(
        b.hit(&k, rule, Timestamp(t.0 + 10)).await.unwrap(),
        Verdict::Deny { retry_after: 50 }
    );
    assert_eq!(
        a.hit(&k, rule, Timestamp(t.0 + 60)).await.unwrap(),
        Verdict::Allow,
        "the next window starts afresh"
    );
    let other = limiter(&format!("{prefix}other:")).await.unwrap();
    assert_eq!(
        other.check(&k, rule, Timestamp(t.0 + 10)).await.unwrap(),
        Verdict::Allow,
        "another prefix is another server"
    );
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_not_a_verdict() {
    let r = RedisRateLimiter::connect("redis://127.0.0.1:1", "x:").await;
    assert!(r.is_err());
}
