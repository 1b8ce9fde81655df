//! An expand migration on PostgreSQL while tokens flow: 1,000,000 access
//! tokens, token traffic through the store from several tasks, and the
//! test-only migration `9001` (nullable column + concurrent index on that
//! table) applied in the middle. Nothing may fail, and no workload query
//! may wait on a lock for 100 ms.
#![cfg(feature = "postgres")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fixtures::T0;
use common::load::Workload;
use latchkey_sqlx::{sqlx, MigrateOptions, Migration};

const ROWS: i64 = 1_000_000;

fn test_migration() -> Migration {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/migrations/postgres/9001_access_token_note.sql"
    );
    Migration::new(
        9001,
        "access_token_note",
        std::fs::read_to_string(path).expect("read 9001"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expand_migration_under_token_load() {
    let guarded = common::pg::fresh().await;
    let store = Arc::new(guarded.inner().clone());
    let pool = store.pool().clone();

    let t = Instant::now();
    sqlx::query(
        "INSERT INTO lk_access_tokens (hash, family_id, client_id, subject, scopes, resources, issued_at, expires_at, revoked_at) \
         SELECT sha256(int8send(i)), NULL, 'svc', 'svc', 'profile:read', '[]', $1, $1 + 3600 + i % 86400, NULL \
         FROM generate_series(1, $2) i",
    )
    .bind(T0.0 as i64)
    .bind(ROWS)
    .execute(&pool)
    .await
    .expect("bulk load");
    sqlx::raw_sql("ANALYZE lk_access_tokens")
        .execute(&pool)
        .await
        .expect("analyze");
    println!("loaded {ROWS} access tokens in {:.2?}", t.elapsed());

    let load = Workload::start(store.clone(), 6).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let t = Instant::now();
    let at = (t - load.began).as_secs_f64() * 1e3;
    let opts = MigrateOptions {
        extra: vec![test_migration()],
        ..MigrateOptions::default()
    };
    let report = store
        .migrate_with(&opts)
        .await
        .expect("migration under load");
    let took = t.elapsed();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let load = load.stop().await;

    println!(
        "migration 9001 applied from +{at:.0} ms in {took:.2?} under load ({} lock-timeout retries)",
        report.lock_retries
    );
    load.print("token operations during the migration:");
    assert_eq!(report.applied, vec![9001]);
    let (valid,): (bool,) = sqlx::query_as(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'lk_access_tokens_note'",
    )
    .fetch_one(&pool)
    .await
    .expect("index exists");
    assert!(valid, "the concurrent index must be valid");
    let (cols,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'lk_access_tokens' AND column_name = 'note' AND is_nullable = 'YES'",
    )
    .fetch_one(&pool)
    .await
    .expect("column");
    assert_eq!(cols, 1);
    // Old code keeps working on the expanded schema (it names its columns).
    assert!(
        latchkey::storage::TokenStore::find_access_token(&*store, &common::fixtures::hash())
            .await
            .expect("find")
            .is_none()
    );
    assert!(
        load.max_lock_wait_ms < 100.0,
        "a workload query waited {:.1} ms on a lock: {}",
        load.max_lock_wait_ms,
        load.lock_wait_query
    );
    assert!(load.p99_ms() < 100.0, "p99 {:.1} ms", load.p99_ms());
    println!(
        "overall: p99 {:.2} ms, max {:.2} ms",
        load.p99_ms(),
        load.max_ms()
    );
    drop(store);
    drop(guarded);
}
