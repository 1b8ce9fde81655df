//! The core storage contract suite against SQLite: a new temporary
//! database file per case (WAL mode, several connections), and once more on
//! a private in-memory database.
#![cfg(feature = "sqlite")]

mod common;

latchkey::conformance_tests!(|| common::lite::fresh());

mod memory {
    use std::sync::Arc;

    latchkey::conformance_tests!(|| async {
        let store = latchkey_sqlx::SqliteStore::memory().await.expect("open");
        store.migrate().await.expect("migrate");
        Arc::new(store)
    });
}
