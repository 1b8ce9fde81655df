//! The backfill runner on PostgreSQL: restartable (also when dropped with
//! a batch transaction open), exactly once, every key kind, and a batch
//! that meets a held row lock gives up within its lock timeout instead of
//! queueing.
#![cfg(feature = "postgres")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::backfill::{self as bf, Backfills as _, Items};
use latchkey_sqlx::sqlx::{self, Connection as _};
use latchkey_sqlx::{BackfillOptions, Flow};

const ITEMS: Items<'static> = Items {
    ddl: "CREATE TABLE bf_items (id BIGINT PRIMARY KEY, hits INT NOT NULL DEFAULT 0, label TEXT)",
    fill: "INSERT INTO bf_items (id) SELECT n * 3 FROM generate_series(1, {rows}) n",
};

common::backfill::backfill_scenarios!(
    common::pg::fresh,
    ITEMS,
    40,
    [
        "CREATE TABLE bf_t (k TEXT PRIMARY KEY, v INT NOT NULL DEFAULT 0)",
        "CREATE TABLE bf_b (k BYTEA PRIMARY KEY, v INT NOT NULL DEFAULT 0)",
    ],
    [
        "INSERT INTO bf_t (k) SELECT 'key-' || n FROM generate_series(1, 100) n".to_owned(),
        "INSERT INTO bf_b (k) SELECT sha256(int8send(n)) FROM generate_series(1, 100) n".to_owned(),
    ]
);

async fn store() -> (
    Arc<common::guarded::Guarded<latchkey_sqlx::PgStore>>,
    Arc<latchkey_sqlx::PgStore>,
) {
    let guarded = common::pg::fresh().await;
    let store = Arc::new(guarded.inner().clone());
    (guarded, store)
}

async fn db_name(store: &latchkey_sqlx::PgStore) -> String {
    sqlx::query_scalar("SELECT current_database()")
        .fetch_one(store.pool())
        .await
        .expect("db")
}

/// The run is dropped at the moment the server shows its connection idle
/// inside a batch transaction that has already updated rows: the
/// connection is closed, the server rolls the batch back (rows and cursor
/// together), and the resumed run updates every row exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_inside_a_batch_transaction_rolls_it_back() {
    let (_g, store) = store().await;
    let rows = 3_000;
    ITEMS.create(&*store, rows).await;
    let job = bf::counting("dropped");
    let opts = bf::quick(200);
    let run = store.run(&job, &opts, Box::new(|_| Flow::Continue));
    // The probe ignores the pid: the backfill's connection is the only
    // one of this database inside a transaction that has written.
    let cut = common::pg::cancel_when(
        run,
        store.pool(),
        0,
        "SELECT $1 = $1 AND EXISTS (SELECT 1 FROM pg_stat_activity \
           WHERE datname = current_database() AND state = 'idle in transaction' \
           AND backend_xid IS NOT NULL)",
    )
    .await;
    assert!(cut, "the run finished before a batch could be cut");
    // The closed connection's transaction is gone, with its rows.
    for _ in 0..100 {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()",
        )
        .fetch_one(store.pool())
        .await
        .expect("activity");
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (scanned, batches): (i64, i64) =
        sqlx::query_as("SELECT scanned, batches FROM lk_backfills WHERE name = 'dropped'")
            .fetch_one(store.pool())
            .await
            .expect("progress");
    assert_eq!(
        store
            .count("SELECT count(*) FROM bf_items WHERE hits = 1")
            .await,
        scanned,
        "exactly the committed batches' rows are done"
    );
    assert_eq!(
        store
            .count("SELECT count(*) FROM bf_items WHERE hits > 1")
            .await,
        0
    );
    let done = store
        .run(&job, &opts, Box::new(|_| Flow::Continue))
        .await
        .expect("resume");
    assert!(done.done);
    assert_eq!(done.batches as i64 - batches, done.batches as i64 - batches);
    assert_eq!(done.rows_scanned as i64, rows);
    bf::assert_once(&*store, rows).await;
}

/// Another transaction holds one row of the table for a second. The
/// batch that reaches it gives up after its 20 ms lock timeout, rolls
/// back, backs off and retries (smaller) until the holder is gone; no
/// reader of that row waits behind the backfill meanwhile, and the held
/// row is updated exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_row_lock_times_out_and_retries() {
    let (_g, store) = store().await;
    ITEMS.create(&*store, 2_000).await;
    let db = db_name(&store).await;
    let mut holder = sqlx::PgConnection::connect(&common::with_db(&common::pg_url(), &db))
        .await
        .expect("holder");
    let (locked, is_locked) = tokio::sync::oneshot::channel();
    let release = tokio::spawn(async move {
        let mut tx = holder.begin().await.expect("begin");
        sqlx::query("UPDATE bf_items SET label = 'held' WHERE id = 900")
            .execute(&mut *tx)
            .await
            .expect("lock");
        let _ = locked.send(());
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        tx.commit().await.expect("commit");
    });
    is_locked.await.expect("locked");
    let opts = BackfillOptions {
        attempts: 1_000,
        ..bf::quick(100)
    };
    bf::runs_past_a_held_row(&*store, 2_000, &opts, Duration::from_millis(1_000)).await;
    release.await.expect("holder");
    assert_eq!(
        store
            .count("SELECT count(*) FROM bf_items WHERE label = 'held' AND hits = 1")
            .await,
        1
    );
}
