//! The backfill runner on MySQL/MariaDB: restartable, exactly once, every
//! key kind, and a batch that meets a held row lock gives up and retries.
#![cfg(feature = "mysql")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::backfill::{self as bf, Items};
use latchkey_sqlx::sqlx::{self, Connection as _};
use latchkey_sqlx::BackfillOptions;

const ITEMS: Items<'static> = Items {
    ddl: "CREATE TABLE bf_items (id BIGINT PRIMARY KEY, hits INT NOT NULL DEFAULT 0, label VARCHAR(20) NULL) ENGINE=InnoDB",
    // Digits cross-joined: MariaDB may cap recursion at 1,000 rows.
    fill: "INSERT INTO bf_items (id) SELECT n * 3 FROM \
           (WITH RECURSIVE d(v) AS (SELECT 0 UNION ALL SELECT v + 1 FROM d WHERE v < 9) \
            SELECT 1 + a.v + 10 * b.v + 100 * c.v + 1000 * e.v AS n FROM d a, d b, d c, d e) x \
           WHERE n <= {rows}",
};

const SERIES: &str = "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 100) SELECT n FROM s) x";

common::backfill::backfill_scenarios!(
    common::my::fresh,
    ITEMS,
    40,
    [
        "CREATE TABLE bf_t (k VARCHAR(50) PRIMARY KEY, v INT NOT NULL DEFAULT 0) ENGINE=InnoDB",
        "CREATE TABLE bf_b (k VARBINARY(32) PRIMARY KEY, v INT NOT NULL DEFAULT 0) ENGINE=InnoDB",
    ],
    [
        format!("INSERT INTO bf_t (k) SELECT CONCAT('key-', n) FROM {SERIES}"),
        format!("INSERT INTO bf_b (k) SELECT UNHEX(SHA2(n, 256)) FROM {SERIES}"),
    ]
);

/// Another transaction holds a row of the second batch for 2.5 s: the
/// batch gives up after InnoDB's lock wait (1 s, its smallest), rolls
/// back, retries smaller, and gets through once the lock is gone; the
/// held row is still updated exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_row_lock_times_out_and_retries() {
    let g = common::my::fresh().await;
    let store = Arc::new(g.inner().clone());
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
    let opts = BackfillOptions {
        lock_timeout: Duration::from_millis(200),
        ..bf::quick(100)
    };
    bf::runs_past_a_held_row(&*store, 500, &opts, Duration::from_millis(2_500)).await;
    release.await.expect("holder");
}
