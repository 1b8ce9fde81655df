//! Purge on a large PostgreSQL table in small batches while token traffic
//! flows: the purge walks the expiry indexes and skips locked rows, so the
//! workload's latency stays flat.
#![cfg(feature = "postgres")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fixtures::{summary, T0};
use common::load::Workload;
use latchkey::storage::PurgeStore;
use latchkey_sqlx::sqlx;

const EXPIRED_TOKENS: i64 = 300_000;
const EXPIRED_FAMILIES: i64 = 20_000;
const BATCH: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purge_in_batches_under_token_load() {
    let guarded = common::pg::fresh().await;
    let store = Arc::new(guarded.inner().clone());
    let pool = store.pool().clone();
    let t = Instant::now();
    // Expired before T0; live rows (the workload's) expire after T0.
    sqlx::query(
        "INSERT INTO lk_access_tokens (hash, family_id, client_id, subject, scopes, resources, issued_at, expires_at, revoked_at) \
         SELECT sha256(int8send(i)), NULL, 'svc', 'svc', 'profile:read', '[]', $1 - 7200, $1 - 1 - i % 3600, NULL \
         FROM generate_series(1, $2) i",
    )
    .bind(T0.0 as i64)
    .bind(EXPIRED_TOKENS)
    .execute(&pool)
    .await
    .expect("load tokens");
    sqlx::query(
        "WITH f AS (INSERT INTO lk_families (id, grant_id, client_id, subject, scopes, resources, generation, \
           current_hash, current_issued_at, current_expires_at, created_at, expires_at) \
           SELECT 'old_' || i, 'g_' || i, 'c', 's', 'profile:read', '[]', 1, sha256(int8send(-i)), $1 - 7200, $1 - 1, $1 - 7200, $1 - 1 \
           FROM generate_series(1, $2) i RETURNING id) \
         INSERT INTO lk_refresh_tokens (hash, family_id, generation) \
         SELECT sha256(convert_to(id || '_' || g, 'UTF8')), id, g FROM f, generate_series(0, 1) g",
    )
    .bind(T0.0 as i64)
    .bind(EXPIRED_FAMILIES)
    .execute(&pool)
    .await
    .expect("load families");
    sqlx::raw_sql("ANALYZE")
        .execute(&pool)
        .await
        .expect("analyze");
    println!(
        "loaded {EXPIRED_TOKENS} expired access tokens and {EXPIRED_FAMILIES} expired families in {:.2?}",
        t.elapsed()
    );

    let load = Workload::start(store.clone(), 6).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = Instant::now();
    let mut batches = Vec::new();
    let (mut tokens, mut families) = (0u64, 0u64);
    loop {
        let b = Instant::now();
        let r = store
            .purge_expired(T0, BATCH)
            .await
            .expect("purge under load");
        batches.push(b.elapsed().as_secs_f64() * 1e3);
        tokens += r.access_tokens;
        families += r.families;
        if r.total() == 0 {
            break;
        }
    }
    let took = t.elapsed();
    let load = load.stop().await;
    let (n, p50, p99, max) = summary(batches);
    println!(
        "purged {tokens} access tokens and {families} families in {took:.2?}: {n} calls of <= {BATCH} per kind, \
         p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms per call"
    );
    load.print("token operations during the purge:");
    assert_eq!(tokens as i64, EXPIRED_TOKENS);
    assert_eq!(families as i64, EXPIRED_FAMILIES);
    let (left,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM lk_refresh_tokens WHERE family_id LIKE 'old_%'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(left, 0, "refresh tokens of purged families are gone");
    assert!(
        load.max_lock_wait_ms < 100.0,
        "lock wait {:.1} ms",
        load.max_lock_wait_ms
    );
    assert!(load.p99_ms() < 100.0, "p99 {:.1} ms", load.p99_ms());
    println!(
        "overall during purge: p99 {:.2} ms, max {:.2} ms",
        load.p99_ms(),
        load.max_ms()
    );
    drop(store);
    drop(guarded);
}
