//! Scale curves: code exchange, refresh and introspection latency with
//! 10 thousand, 1 million (and more) token families stored, on redb and on
//! PostgreSQL, and the bytes on disk per family.
//!
//! Each family is what a code flow and one refresh leave behind (a grant,
//! a redeemed code, the family with its rotated-out generation and sealed
//! successor, two refresh-token index rows, two access tokens).
//!
//! - redb: families are made through the engine (real records), many
//!   tasks at once, in a file on tmpfs (`LATCHKEY_SCALE_GEN_DIR`, default
//!   `/dev/shm`) where a commit's fsync costs nothing; the file is then
//!   copied to the benchmark disk (`LATCHKEY_BENCH_DIR`) and reopened, so
//!   the timed operations pay real fsyncs.
//! - PostgreSQL: one family is made through the engine, then copied with
//!   `INSERT … SELECT … FROM generate_series` in batches of 100,000, each
//!   copy with its own ids and hashes (SHA-256 of the template's and the
//!   copy's number), and the tables are `ANALYZE`d.
//!
//! Sizes grow one store in place: `LATCHKEY_SCALE_SIZES` (comma-separated,
//! default `10000,1000000`), backends `LATCHKEY_SCALE_BACKENDS` (default
//! `redb,postgres`), timed samples per operation `LATCHKEY_SCALE_SAMPLES`
//! (default 200). `--test` (CI smoke): 1,000 families, 5 samples.
//!
//! `cargo run --release -p latchkey-benches --bin scale`
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use latchkey::storage::Storage;
use latchkey_benches::backends::{create_pg_db, pg_admin_url, scratch_dir, unique};
use latchkey_benches::{median, smoke, BenchError, Fixture};
use latchkey_sqlx::sqlx::{self, Connection as _};

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Median microseconds of exchange, refresh and introspection.
struct Latency {
    exchange: f64,
    refresh: f64,
    introspect: f64,
}

async fn measure<S: Storage + ?Sized>(f: &Fixture<S>, n: usize) -> Result<Latency, BenchError> {
    let (mut ex, mut re, mut intro) = (vec![], vec![], vec![]);
    for _ in 0..n {
        let (t, took) = f.timed_code_flow().await?;
        ex.push(took);
        let s = Instant::now();
        f.introspect(&t.access).await?;
        intro.push(s.elapsed().as_secs_f64() * 1e6);
        let s = Instant::now();
        f.refresh(&t.refresh).await?;
        re.push(s.elapsed().as_secs_f64() * 1e6);
    }
    Ok(Latency {
        exchange: median(&mut ex),
        refresh: median(&mut re),
        introspect: median(&mut intro),
    })
}

fn row(backend: &str, families: u64, l: &Latency, bytes: u64) {
    println!(
        "| {backend} | {families} | {:.0} | {:.0} | {:.0} | {:.0} |",
        l.exchange,
        l.refresh,
        l.introspect,
        bytes as f64 / families as f64
    );
}

/// Makes families through the engine with `tasks` concurrent workers.
async fn make_families<S: Storage + ?Sized + 'static>(
    f: &Arc<Fixture<S>>,
    count: u64,
    tasks: u64,
) -> Result<(), BenchError> {
    let mut handles = Vec::new();
    for t in 0..tasks {
        let f = f.clone();
        let share = count / tasks + u64::from(t < count % tasks);
        handles.push(tokio::spawn(async move {
            for _ in 0..share {
                let tokens = f.code_flow().await?;
                f.refresh(&tokens.refresh).await?;
            }
            Ok::<_, BenchError>(())
        }));
    }
    for h in handles {
        h.await??;
    }
    Ok(())
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

async fn redb(sizes: &[u64], samples: usize) -> Result<(), BenchError> {
    let gen_base = std::env::var_os("LATCHKEY_SCALE_GEN_DIR")
        .map(PathBuf::from)
        .or_else(|| Path::new("/dev/shm").is_dir().then(|| "/dev/shm".into()));
    let gen_dir = match &gen_base {
        Some(b) => {
            let d = b.join(unique("lk_scale_gen"));
            std::fs::create_dir_all(&d)?;
            d
        }
        None => scratch_dir("lk_scale_gen")?,
    };
    let disk_dir = scratch_dir("lk_scale_redb")?;
    let gen_file = gen_dir.join("latchkey.redb");
    let disk_file = disk_dir.join("latchkey.redb");
    let mut have = 0u64;
    let result = async {
        for &n in sizes {
            if n > have {
                let t = Instant::now();
                let store = Arc::new(latchkey_redb::RedbStore::open(&gen_file)?);
                // The fixture registers its client again: one per size step.
                let f = Arc::new(Fixture::new(store).await?);
                make_families(&f, n - have, 8).await?;
                drop(f);
                eprintln!(
                    "redb: {} families made in {:.1} s",
                    n - have,
                    t.elapsed().as_secs_f64()
                );
                have = n;
            }
            std::fs::copy(&gen_file, &disk_file)?;
            let store = Arc::new(latchkey_redb::RedbStore::open(&disk_file)?);
            let f = Fixture::new(store.clone()).await?;
            let l = measure(&f, samples).await?;
            drop(f);
            row("redb", have, &l, file_size(&disk_file));
            space(&store, have)?;
        }
        Ok::<_, BenchError>(())
    }
    .await;
    let _ = std::fs::remove_dir_all(&gen_dir);
    let _ = std::fs::remove_dir_all(&disk_dir);
    result
}

/// Prints the bytes per family each table takes (keys and values, B-tree
/// metadata, free space inside its pages), largest first: what the
/// bytes-per-family figure is made of.
fn space(store: &latchkey_redb::RedbStore, families: u64) -> Result<(), BenchError> {
    let per = |b: u64| b as f64 / families.max(1) as f64;
    eprintln!("redb {families}: bytes per family by table (stored + metadata + free in pages):");
    for t in store.table_space()? {
        let total = t.stored_bytes + t.metadata_bytes + t.fragmented_bytes;
        if per(total) < 1.0 {
            continue;
        }
        eprintln!(
            "  {:<28} {:>8.0} = {:>6.0} + {:>5.0} + {:>6.0}  ({} entries, height {})",
            t.name,
            per(total),
            per(t.stored_bytes),
            per(t.metadata_bytes),
            per(t.fragmented_bytes),
            t.entries,
            t.height
        );
    }
    Ok(())
}

/// Copies the newest family (and what belongs to it) `lo..=hi` times.
async fn pg_copy(conn: &mut sqlx::PgConnection, lo: u64, hi: u64) -> Result<(), BenchError> {
    let (lo, hi) = (lo as i64, hi as i64);
    // `k(x)`: the copy's key for template key x (text), `h(x)`: its hash.
    let statements = [
        "INSERT INTO lk_grants (id, subject, client_id, scopes, resources, remembered_scopes, created_at, last_used_at, revision)
         SELECT g.id || '-' || n, g.subject || '-' || n, g.client_id, g.scopes, g.resources, g.remembered_scopes, g.created_at, g.last_used_at, g.revision
         FROM lk_grants g, bench_template t, generate_series($1::bigint, $2::bigint) n WHERE g.id = t.grant_id",
        "INSERT INTO lk_codes (hash, client_id, grant_id, subject, redirect_uri, redirect_uri_explicit, scopes, resources, code_challenge, issued_at, expires_at, failed_attempts, status, family_id)
         SELECT sha256(c.hash || int8send(n)), c.client_id, c.grant_id || '-' || n, c.subject || '-' || n, c.redirect_uri, c.redirect_uri_explicit, c.scopes, c.resources, c.code_challenge, c.issued_at, c.expires_at, c.failed_attempts, c.status, c.family_id || '-' || n
         FROM lk_codes c, bench_template t, generate_series($1::bigint, $2::bigint) n WHERE c.family_id = t.family_id",
        "INSERT INTO lk_families (id, grant_id, client_id, subject, scopes, resources, generation, current_hash, current_issued_at, current_expires_at, previous_hash, previous_rotated_at, previous_sealed, created_at, expires_at, revoked_at, revoked_reason)
         SELECT f.id || '-' || n, f.grant_id || '-' || n, f.client_id, f.subject || '-' || n, f.scopes, f.resources, f.generation, sha256(f.current_hash || int8send(n)), f.current_issued_at, f.current_expires_at, sha256(f.previous_hash || int8send(n)), f.previous_rotated_at, f.previous_sealed, f.created_at, f.expires_at, f.revoked_at, f.revoked_reason
         FROM lk_families f, bench_template t, generate_series($1::bigint, $2::bigint) n WHERE f.id = t.family_id",
        "INSERT INTO lk_refresh_tokens (hash, family_id, generation)
         SELECT sha256(r.hash || int8send(n)), r.family_id || '-' || n, r.generation
         FROM lk_refresh_tokens r, bench_template t, generate_series($1::bigint, $2::bigint) n WHERE r.family_id = t.family_id",
        "INSERT INTO lk_access_tokens (hash, family_id, client_id, subject, scopes, resources, issued_at, expires_at, revoked_at)
         SELECT sha256(a.hash || int8send(n)), a.family_id || '-' || n, a.client_id, a.subject || '-' || n, a.scopes, a.resources, a.issued_at, a.expires_at, a.revoked_at
         FROM lk_access_tokens a, bench_template t, generate_series($1::bigint, $2::bigint) n WHERE a.family_id = t.family_id",
    ];
    let mut tx = conn.begin().await?;
    for s in statements {
        sqlx::query(s).bind(lo).bind(hi).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn postgres(sizes: &[u64], samples: usize) -> Result<(), BenchError> {
    let db = unique("lk_scale");
    let url = match create_pg_db(&db).await {
        Ok(u) => u,
        Err(e) if latchkey_benches::ci() => return Err(e),
        Err(e) => {
            eprintln!("!!! SKIPPING the PostgreSQL scale curve: {e}");
            return Ok(());
        }
    };
    let result = async {
        let store = latchkey_sqlx::PgStore::connect(&url).await?;
        store.migrate().await?;
        let f = Fixture::new(Arc::new(store)).await?;
        let mut conn = sqlx::PgConnection::connect(&url).await?;
        // The template: one family after a code flow and one refresh.
        let tokens = f.code_flow().await?;
        f.refresh(&tokens.refresh).await?;
        sqlx::raw_sql(
            "CREATE TABLE bench_template AS
             SELECT id AS family_id, grant_id FROM lk_families ORDER BY created_at DESC LIMIT 1",
        )
        .execute(&mut conn)
        .await?;
        let mut have = 1u64;
        for &n in sizes {
            let t = Instant::now();
            while have < n {
                let hi = (have + 100_000).min(n) - 1;
                pg_copy(&mut conn, have, hi).await?;
                have = hi + 1;
            }
            sqlx::raw_sql("ANALYZE").execute(&mut conn).await?;
            eprintln!(
                "postgres: {n} families in place after {:.1} s",
                t.elapsed().as_secs_f64()
            );
            let l = measure(&f, samples).await?;
            let bytes: i64 = sqlx::query_scalar(
                "SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c
                 JOIN pg_namespace s ON s.oid = c.relnamespace
                 WHERE s.nspname = 'public' AND c.relkind = 'r' AND c.relname LIKE 'lk\\_%'",
            )
            .fetch_one(&mut conn)
            .await?;
            row("postgres", have, &l, u64::try_from(bytes).unwrap_or(0));
        }
        Ok::<_, BenchError>(())
    }
    .await;
    if let Ok(mut c) = sqlx::PgConnection::connect(&pg_admin_url()).await {
        let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .execute(&mut c)
            .await;
    }
    result
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BenchError> {
    let (sizes, samples): (Vec<u64>, usize) = if smoke() {
        (vec![1_000], 5)
    } else {
        (
            env_list("LATCHKEY_SCALE_SIZES", "10000,1000000")
                .iter()
                .map(|s| s.parse())
                .collect::<Result<_, _>>()?,
            std::env::var("LATCHKEY_SCALE_SAMPLES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(200),
        )
    };
    println!("\nScale: medians of {samples} operations on a store holding N families (µs; bytes on disk / N)");
    println!("| backend | families | exchange µs | refresh µs | introspection µs | bytes/family |");
    println!("|---|---:|---:|---:|---:|---:|");
    for b in env_list("LATCHKEY_SCALE_BACKENDS", "redb,postgres") {
        match b.as_str() {
            "redb" => redb(&sizes, samples).await?,
            "postgres" => postgres(&sizes, samples).await?,
            other => return Err(format!("unknown scale backend {other:?}").into()),
        }
    }
    Ok(())
}
