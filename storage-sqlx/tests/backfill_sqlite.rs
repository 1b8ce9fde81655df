//! The backfill runner on SQLite: restartable, exactly once, every key
//! kind.
#![cfg(feature = "sqlite")]

mod common;

use std::sync::Arc;

use common::backfill::{self as bf, Items};

const ITEMS: Items<'static> = Items {
    ddl: "CREATE TABLE bf_items (id INTEGER PRIMARY KEY, hits INTEGER NOT NULL DEFAULT 0, label TEXT)",
    fill: "INSERT INTO bf_items (id) SELECT n * 3 FROM \
           (WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {rows}) SELECT n FROM s) x",
};

async fn store() -> (
    Arc<common::guarded::Guarded<latchkey_sqlx::SqliteStore>>,
    Arc<latchkey_sqlx::SqliteStore>,
) {
    let guarded = common::lite::fresh().await;
    let store = Arc::new(guarded.inner().clone());
    (guarded, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_after_kills() {
    let (_g, store) = store().await;
    bf::resumes_after_kills(store, &ITEMS, 0).await;
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
            "CREATE TABLE bf_t (k TEXT PRIMARY KEY, v INTEGER NOT NULL DEFAULT 0)",
            "CREATE TABLE bf_b (k BLOB PRIMARY KEY, v INTEGER NOT NULL DEFAULT 0)",
        ],
        [
            &format!("INSERT INTO bf_t (k) SELECT 'key-' || n FROM {series}"),
            &format!("INSERT INTO bf_b (k) SELECT CAST(printf('%08x', (n * 2654435761) % 4294967296) AS BLOB) FROM {series}"),
        ],
    )
    .await;
}

#[tokio::test]
async fn malformed_job_is_refused() {
    let (_g, store) = store().await;
    bf::malformed_job_is_refused(store).await;
}
