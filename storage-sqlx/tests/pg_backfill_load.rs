//! The backfill runner on a large `lk_access_tokens` while code flows run
//! through a real engine on the same database: the expand/backfill steps
//! of the worked example in `MIGRATIONS.md` (`9002` adds `kind`, the
//! runner fills it in).
//!
//! The workload (authorize with consent, exchange, refresh, introspect)
//! runs first alone to measure its idle latency, then again during the
//! backfill. No workload statement may wait on a lock for 100 ms, and the
//! workload's p99 during the backfill must stay within twice the idle
//! p99. The figures for `MIGRATIONS.md` (rate, WAL per row, table growth)
//! are printed.
//!
//! Rows: `LATCHKEY_BACKFILL_ROWS` (default 200,000, what CI runs; the
//! 10,000,000-row figures in `MIGRATIONS.md` come from
//! `LATCHKEY_BACKFILL_ROWS=10000000`). For measuring on a large table
//! without loading it again: `LATCHKEY_BACKFILL_SECS` stops the backfill
//! after that many seconds (a later run resumes it), and
//! `LATCHKEY_BACKFILL_DB` names a database a previous run loaded (it is
//! then kept, not dropped; drop it by hand).
#![cfg(feature = "postgres")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fixtures::{summary, T0};
use common::load::{EngineWorkload, LoadReport};
use latchkey_sqlx::sqlx::postgres::PgConnectOptions;
use latchkey_sqlx::{
    sqlx, Backfill, BackfillOptions, BackfillProgress, Flow, KeyKind, MigrateOptions, Migration,
    PgStore,
};

const DEFAULT_ROWS: i64 = 200_000;
const TASKS: usize = 4;
const IDLE: Duration = Duration::from_secs(8);
/// Sessions of the engine under test carry this name.
const APP: &str = "lk-workload";

fn rows() -> i64 {
    std::env::var("LATCHKEY_BACKFILL_ROWS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(DEFAULT_ROWS)
}

fn env_secs() -> Option<Duration> {
    std::env::var("LATCHKEY_BACKFILL_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs)
}

fn expand() -> Migration {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/migrations/postgres/9002_access_token_kind.sql"
    );
    Migration::new(
        9002,
        "access_token_kind",
        std::fs::read_to_string(path).expect("read 9002"),
    )
}

/// The backfill of the worked example.
fn job() -> Backfill {
    Backfill::new(
        "9002_access_token_kind",
        "lk_access_tokens",
        "hash",
        KeyKind::Bytes,
    )
    .set("kind = CASE WHEN family_id IS NULL THEN 'client' ELSE 'user' END")
    .pending("kind IS NULL")
}

async fn lsn(pool: &sqlx::PgPool) -> String {
    sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
        .fetch_one(pool)
        .await
        .expect("lsn")
}

async fn wal_bytes(pool: &sqlx::PgPool, from: &str, to: &str) -> f64 {
    sqlx::query_scalar("SELECT pg_wal_lsn_diff($2::pg_lsn, $1::pg_lsn)::float8")
        .bind(from)
        .bind(to)
        .fetch_one(pool)
        .await
        .expect("lsn diff")
}

async fn table_bytes(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT pg_total_relation_size('lk_access_tokens')")
        .fetch_one(pool)
        .await
        .expect("size")
}

fn mib(b: f64) -> f64 {
    b / (1024.0 * 1024.0)
}

fn print_ops(title: &str, r: &LoadReport) {
    r.print(title);
    let n: usize = r.latencies.values().map(Vec::len).sum();
    let (_, p50, p99, max) = summary(r.latencies.values().flatten().copied().collect());
    println!("  all ops n={n} p50={p50:.2} ms p99={p99:.2} ms max={max:.2} ms");
}

/// `rows` access tokens with random hashes (so key order and heap order
/// differ, as in a real table), then a vacuum and fresh statistics.
async fn load(pool: &sqlx::PgPool, rows: i64) {
    let t = Instant::now();
    // In chunks, so a 10M load shows progress and no single statement
    // runs for minutes.
    let chunk = 1_000_000;
    let mut from = 1;
    while from <= rows {
        let to = (from + chunk - 1).min(rows);
        sqlx::query(
            "INSERT INTO lk_access_tokens (hash, family_id, client_id, subject, scopes, resources, issued_at, expires_at, revoked_at) \
             SELECT sha256(int8send(i)), NULL, 'svc', 'svc', 'profile:read', '[]', $1, $1 + 3600 + i % 86400, NULL \
             FROM generate_series($2::bigint, $3::bigint) i",
        )
        .bind(T0.0 as i64)
        .bind(from)
        .bind(to)
        .execute(pool)
        .await
        .expect("bulk load");
        from = to + 1;
    }
    sqlx::raw_sql("VACUUM (ANALYZE) lk_access_tokens")
        .execute(pool)
        .await
        .expect("vacuum");
    println!("loaded {rows} access tokens in {:.2?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backfill_under_engine_load() {
    let rows = rows();
    let reuse = std::env::var("LATCHKEY_BACKFILL_DB").ok();
    let guarded = match &reuse {
        None => Some(common::pg::fresh().await),
        Some(_) => None,
    };
    let admin = match (&guarded, &reuse) {
        (Some(g), _) => g.inner().clone(),
        (None, Some(db)) => PgStore::connect(&common::with_db(&common::pg_url(), db))
            .await
            .expect("connect to the loaded database"),
        (None, None) => unreachable!(),
    };
    let pool = admin.pool().clone();
    if reuse.is_none() {
        load(&pool, rows).await;
    }
    let size_before = table_bytes(&pool).await;
    println!(
        "lk_access_tokens with indexes: {:.0} MiB",
        mib(size_before as f64)
    );
    let report = admin
        .migrate_with(&MigrateOptions {
            extra: vec![expand()],
            ..MigrateOptions::default()
        })
        .await
        .expect("expand");
    assert!(report.applied == [9002] || reuse.is_some(), "{report:?}");
    // The engine under test: its own pool, its sessions named.
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .expect("db");
    let opts: PgConnectOptions = common::with_db(&common::pg_url(), &db)
        .parse()
        .expect("url");
    let served = Arc::new(
        PgStore::connect_with(PgStore::pool_options(), opts.application_name(APP))
            .await
            .expect("connect"),
    );
    let engine = common::engine::engine(served.clone());
    if reuse.is_none() {
        // A reused database has it from the run that loaded it.
        common::engine::register_client(&engine).await;
    }
    let watch = "a.application_name = 'lk-workload'";

    // Idle: the workload alone.
    let l0 = lsn(&pool).await;
    let t = Instant::now();
    let load = EngineWorkload::start(engine.clone(), pool.clone(), TASKS, watch).await;
    tokio::time::sleep(IDLE).await;
    let idle = load.stop().await;
    let idle_secs = t.elapsed().as_secs_f64();
    let idle_wal_rate = wal_bytes(&pool, &l0, &lsn(&pool).await).await / idle_secs;
    print_ops("workload alone:", &idle);

    // The same workload during the backfill.
    let load = EngineWorkload::start(engine.clone(), pool.clone(), TASKS, watch).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let l1 = lsn(&pool).await;
    let t = Instant::now();
    let mut last_print = Instant::now();
    let stop_after = env_secs();
    let done = admin
        .backfill(
            &job(),
            &BackfillOptions::default(),
            |p: &BackfillProgress| {
                if last_print.elapsed() >= Duration::from_secs(10) {
                    last_print = Instant::now();
                    println!(
                        "  backfill: {} of ~{:?} rows, {:.0} rows/s, batch {}, ~{:.0?} left",
                        p.rows_scanned,
                        p.estimated_total,
                        p.rows_per_sec,
                        p.batch_size,
                        p.estimated_remaining
                    );
                }
                if stop_after.is_some_and(|d| t.elapsed() >= d) {
                    Flow::Stop
                } else {
                    Flow::Continue
                }
            },
        )
        .await
        .expect("backfill under load");
    let took = t.elapsed();
    let l2 = lsn(&pool).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let during = load.stop().await;
    print_ops("workload during the backfill:", &during);

    let wal = wal_bytes(&pool, &l1, &l2).await;
    let net = (wal - idle_wal_rate * took.as_secs_f64()).max(0.0);
    let size_after = table_bytes(&pool).await;
    let (idle_p99, during_p99) = (idle.p99_ms(), during.p99_ms());
    let run_rows = done.run_rows.max(1) as f64;
    println!(
        "BACKFILL rows={rows} this_run={} scanned={} updated={} batches={} took={:.1} s rate={:.0} rows/s \
         ({:.1} us/row) lock_timeouts={} lock_waits_caused={} final_batch={}",
        done.run_rows,
        done.rows_scanned,
        done.rows_updated,
        done.batches,
        took.as_secs_f64(),
        run_rows / took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / run_rows,
        done.lock_timeouts,
        done.lock_waits_caused,
        done.batch_size
    );
    println!(
        "WAL {:.1} MiB during the backfill ({:.0} B/row); workload alone wrote {:.1} KiB/s, \
         so the backfill's own share is {:.1} MiB ({:.0} B/row)",
        mib(wal),
        wal / run_rows,
        idle_wal_rate / 1024.0,
        mib(net),
        net / run_rows
    );
    println!(
        "table with indexes: {:.0} MiB before, {:.0} MiB after ({:.0} B/row added)",
        mib(size_before as f64),
        mib(size_after as f64),
        (size_after - size_before) as f64 / run_rows
    );
    println!(
        "workload p99: idle {idle_p99:.2} ms, during {during_p99:.2} ms ({:.2}x); \
         longest workload lock wait {:.1} ms",
        during_p99 / idle_p99.max(1e-9),
        during.max_lock_wait_ms
    );

    // The lock and latency bounds hold for a time-boxed run too.
    assert!(
        during.max_lock_wait_ms < 100.0,
        "a workload statement waited {:.1} ms on a lock: {}",
        during.max_lock_wait_ms,
        during.lock_wait_query
    );
    assert!(
        during_p99 <= 2.0 * idle_p99,
        "workload p99 {during_p99:.2} ms during the backfill, over twice the idle {idle_p99:.2} ms"
    );
    if !done.done && stop_after.is_some() {
        println!("stopped after {took:.0?}; run again to resume");
        return;
    }
    assert!(done.done, "{done:?}");
    assert!(done.rows_scanned as i64 >= rows, "{done:?}");
    let (left,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM lk_access_tokens WHERE kind IS NULL")
            .fetch_one(&pool)
            .await
            .expect("count");
    // Rows the workload inserted after the cursor passed their keys are
    // the new release's to write (it writes both); this test's engine is
    // the old release, so only rows behind the cursor are checked.
    let (behind,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM lk_access_tokens WHERE kind IS NULL AND client_id = 'svc'",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(
        behind, 0,
        "every preloaded row is filled in ({left} workload rows are not)"
    );
    drop(engine);
    drop(served);
    drop(admin);
    drop(guarded);
}
