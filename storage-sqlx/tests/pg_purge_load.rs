//! Purge on a large PostgreSQL table in small batches while token traffic
//! flows: the purge walks the expiry indexes and skips locked rows, so the
//! workload's latency stays flat.
#![cfg(feature = "postgres")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fixtures::{
    approval, approved_code, code, issuance, issued_family, rotation, summary, T0,
};
use common::load::Workload;
use latchkey::storage::{
    CodeStore, EventStore, GrantStore, PurgeStore, RedeemOutcome, RotateOutcome, TokenStore,
};
use latchkey_sqlx::sqlx::{self, Connection as _};

const EXPIRED_TOKENS: i64 = 300_000;
const EXPIRED_FAMILIES: i64 = 20_000;
const BATCH: usize = 1_000;
/// How the purge's statements begin, as `pg_stat_activity` shows them.
const PURGE_STATEMENTS: [&str; 5] = [
    "DELETE FROM lk_challenges",
    "DELETE FROM lk_codes",
    "DELETE FROM lk_access_tokens",
    "WITH f AS (DELETE FROM lk_families",
    "WITH floor AS",
];

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
    // The purge itself must never be what a workload statement waits for.
    let purge_held: Vec<_> = load
        .held_by
        .keys()
        .filter(|h| PURGE_STATEMENTS.iter().any(|p| h.contains(p)))
        .collect();
    assert!(
        purge_held.is_empty(),
        "workload waited on a lock held by the purge: {purge_held:?}"
    );
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

/// Deterministic: a transaction holding every row lock a purge can take
/// (all expired challenges, codes, access tokens, families with their
/// refresh tokens, and acknowledged events deleted, not committed: a
/// superset of any one purge batch, in the same lock modes) is held open
/// while a code of the same grant is redeemed and a family rotated. Were a
/// lock shared, they would wait for as long as it stays open; they must
/// finish at once. Afterwards the purge itself removes exactly those rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_purge_transaction_never_blocks_redemption() {
    let guarded = common::pg::fresh().await;
    let store = guarded.inner();
    let pool = store.pool().clone();
    // Live: a grant with a family and a fresh code.
    let (grant, live) = issued_family(store, "alice").await;
    let fresh = code(&grant);
    let mut again = approval(&grant, &fresh);
    again.new_grant_id = format!("{}-again", grant.id);
    store.approve(&again).await.expect("approve");
    // Expired, of every kind: the grant's redeemed code, an unused code of
    // another grant, a family with its refresh and access tokens, a
    // challenge.
    let (_, old_unused) = approved_code(store, "bob").await;
    let (_, old) = issued_family(store, "carol").await;
    let past = T0.0 as i64 - 1;
    for (sql, key) in [
        (
            "UPDATE lk_codes SET expires_at = $1 WHERE grant_id = $2 AND status = 'redeemed'",
            grant.id.clone(),
        ),
        (
            "UPDATE lk_codes SET expires_at = $1 WHERE grant_id = $2",
            old_unused.grant_id.clone(),
        ),
        (
            "UPDATE lk_families SET expires_at = $1 WHERE id = $2",
            old.family.id.clone(),
        ),
        (
            "UPDATE lk_access_tokens SET expires_at = $1 WHERE family_id = $2",
            old.family.id.clone(),
        ),
    ] {
        let n = sqlx::query(sql)
            .bind(past)
            .bind(key)
            .execute(&pool)
            .await
            .expect("expire")
            .rows_affected();
        assert_eq!(n, 1, "{sql}");
    }
    sqlx::query(
        "INSERT INTO lk_challenges (hash, binding, request, created_at, expires_at) \
         VALUES ('\\x01', '\\x02', '{}', $1, $1)",
    )
    .bind(past)
    .execute(&pool)
    .await
    .expect("challenge");
    // A consumer that has read and acknowledged every event so far.
    let seen = store.poll_events("audit", 100).await.expect("poll");
    let last = seen.last().expect("events").seq;
    store.ack_events("audit", last).await.expect("ack");

    let mut purge = sqlx::PgConnection::connect(&common::with_db(
        &common::pg_url(),
        &sqlx::query_scalar::<_, String>("SELECT current_database()")
            .fetch_one(&pool)
            .await
            .expect("db name"),
    ))
    .await
    .expect("purge connection");
    let mut tx = purge.begin().await.expect("begin");
    let now = T0.0 as i64;
    let mut held = Vec::new();
    for sql in [
        "DELETE FROM lk_challenges WHERE expires_at <= $1",
        "DELETE FROM lk_codes WHERE expires_at <= $1",
        "DELETE FROM lk_access_tokens WHERE expires_at <= $1",
        "DELETE FROM lk_refresh_tokens WHERE family_id IN (SELECT id FROM lk_families WHERE expires_at <= $1)",
        "DELETE FROM lk_families WHERE expires_at <= $1",
        "DELETE FROM lk_events WHERE seq <= (SELECT min(seq) FROM lk_event_cursors) AND $1 = $1",
    ] {
        let n = sqlx::query(sql)
            .bind(now)
            .execute(&mut *tx)
            .await
            .expect("purge-equivalent delete")
            .rows_affected();
        assert!(n > 0, "nothing to lock for: {sql}");
        held.push(n);
    }

    // Redemption (it appends an event) and rotation, on the same grant.
    let ops = async {
        let iss = issuance(&fresh);
        let out = store
            .redeem_code(&fresh.hash, T0, &iss)
            .await
            .expect("redeem");
        assert_eq!(out, RedeemOutcome::Issued);
        let r = rotation(&live.family, live.family.current.hash, 1);
        let out = store
            .rotate_family(&live.family.id, 0, &r)
            .await
            .expect("rotate");
        assert_eq!(out, RotateOutcome::Rotated);
    };
    tokio::time::timeout(Duration::from_secs(20), ops)
        .await
        .expect("a token operation waited on the purge's locks");
    tx.rollback().await.expect("rollback");
    let _ = purge.close().await;

    // The held transaction matched what the purge removes.
    let r = store.purge_expired(T0, 100).await.expect("purge");
    assert_eq!(
        (r.challenges, r.codes, r.access_tokens, r.families, r.events),
        (held[0], held[1], held[2], 1, held[5])
    );
    assert_eq!(held[4], 1);
}
