//! The backfill runner on MySQL/MariaDB: restartable, exactly once, every
//! key kind, and a batch that meets a held row lock gives up and retries.
#![cfg(feature = "mysql")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::backfill::{self as bf, Backfills as _, Items};
use latchkey_sqlx::sqlx::{self, Connection as _};
use latchkey_sqlx::{BackfillOptions, Flow};

const ITEMS: Items<'static> = Items {
    ddl: "CREATE TABLE bf_items (id BIGINT PRIMARY KEY, hits INT NOT NULL DEFAULT 0, label VARCHAR(20) NULL) ENGINE=InnoDB",
    // Digits cross-joined: MariaDB may cap recursion at 1,000 rows.
    fill: "INSERT INTO bf_items (id) SELECT n * 3 FROM \
           (WITH RECURSIVE d(v) AS (SELECT 0 UNION ALL SELECT v + 1 FROM d WHERE v < 9) \
            SELECT 1 + a.v + 10 * b.v + 100 * c.v + 1000 * e.v AS n FROM d a, d b, d c, d e) x \
           WHERE n <= {rows}",
};

async fn store() -> (
    Arc<common::guarded::Guarded<latchkey_sqlx::MySqlStore>>,
    Arc<latchkey_sqlx::MySqlStore>,
) {
    let guarded = common::my::fresh().await;
    let store = Arc::new(guarded.inner().clone());
    (guarded, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_after_kills() {
    let (_g, store) = store().await;
    bf::resumes_after_kills(store, &ITEMS, 40).await;
}

#[tokio::test]
async fn stops_resumes_and_skips_filled_rows() {
    let (_g, store) = store().await;
    bf::stops_resumes_and_skips_filled_rows(store, &ITEMS).await;
}

#[tokio::test]
async fn text_and_binary_keys() {
    let (_g, store) = store().await;
    let series = "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 100) SELECT n FROM s) x";
    bf::text_and_binary_keys(
        store,
        [
            "CREATE TABLE bf_t (k VARCHAR(50) PRIMARY KEY, v INT NOT NULL DEFAULT 0) ENGINE=InnoDB",
            "CREATE TABLE bf_b (k VARBINARY(32) PRIMARY KEY, v INT NOT NULL DEFAULT 0) ENGINE=InnoDB",
        ],
        [
            &format!("INSERT INTO bf_t (k) SELECT CONCAT('key-', n) FROM {series}"),
            &format!("INSERT INTO bf_b (k) SELECT UNHEX(SHA2(n, 256)) FROM {series}"),
        ],
    )
    .await;
}

#[tokio::test]
async fn malformed_job_is_refused() {
    let (_g, store) = store().await;
    bf::malformed_job_is_refused(store).await;
}

/// Another transaction holds a row of the second batch for 2.5 s: the
/// batch gives up after InnoDB's lock wait (1 s, its smallest), rolls
/// back, retries smaller, and gets through once the lock is gone; the
/// held row is still updated exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_row_lock_times_out_and_retries() {
    let (_g, store) = store().await;
    ITEMS.create(&*store, 500).await;
    let db: String = sqlx::query_scalar("SELECT DATABASE()")
        .fetch_one(store.pool())
        .await
        .expect("db");
    let mut holder = sqlx::MySqlConnection::connect(&common::with_db(&common::mysql_url(), &db))
        .await
        .expect("holder");
    let (locked, is_locked) = tokio::sync::oneshot::channel();
    let release = tokio::spawn(async move {
        let mut tx = holder.begin().await.expect("begin");
        sqlx::query("SELECT id FROM bf_items WHERE id = 450 FOR UPDATE")
            .execute(&mut *tx)
            .await
            .expect("lock");
        let _ = locked.send(());
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        tx.commit().await.expect("commit");
    });
    is_locked.await.expect("locked");
    let t = Instant::now();
    let opts = BackfillOptions {
        lock_timeout: Duration::from_millis(200),
        ..bf::quick(100)
    };
    let done = store
        .run(&bf::counting("held"), &opts, Box::new(|_| Flow::Continue))
        .await
        .expect("run");
    let took = t.elapsed();
    release.await.expect("holder");
    println!("done in {took:.2?}: {done:?}");
    assert!(done.done);
    assert!(done.lock_timeouts >= 1, "{done:?}");
    assert!(
        took >= Duration::from_secs(2),
        "waited for the holder: {took:?}"
    );
    bf::assert_once(&*store, 500).await;
}
