//! The backfill runner on SQLite: restartable, exactly once, every key
//! kind.
#![cfg(feature = "sqlite")]

mod common;

use common::backfill::Items;

const ITEMS: Items<'static> = Items {
    ddl: "CREATE TABLE bf_items (id INTEGER PRIMARY KEY, hits INTEGER NOT NULL DEFAULT 0, label TEXT)",
    fill: "INSERT INTO bf_items (id) SELECT n * 3 FROM \
           (WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {rows}) SELECT n FROM s) x",
};

const SERIES: &str = "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 100) SELECT n FROM s) x";

common::backfill::backfill_scenarios!(
    common::lite::fresh,
    ITEMS,
    0,
    [
        "CREATE TABLE bf_t (k TEXT PRIMARY KEY, v INTEGER NOT NULL DEFAULT 0)",
        "CREATE TABLE bf_b (k BLOB PRIMARY KEY, v INTEGER NOT NULL DEFAULT 0)",
    ],
    [
        format!("INSERT INTO bf_t (k) SELECT 'key-' || n FROM {SERIES}"),
        format!("INSERT INTO bf_b (k) SELECT CAST(printf('%08x', (n * 2654435761) % 4294967296) AS BLOB) FROM {SERIES}"),
    ]
);
