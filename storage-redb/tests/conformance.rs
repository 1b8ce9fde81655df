//! The storage contract suite of `latchkey`, run against a fresh redb file
//! per case.

use std::sync::Arc;

use latchkey_redb::RedbStore;

/// A store on a new file. The directory is removed right after opening:
/// redb keeps its open handle to the (now unlinked) file, so the case runs
/// on a real file and nothing is left behind, whoever drops the store last.
fn fresh_store() -> RedbStore {
    let dir = tempfile::tempdir().expect("temp dir");
    RedbStore::open(dir.path().join("latchkey.redb")).expect("open store")
}

latchkey::conformance_tests!(|| async { Arc::new(fresh_store()) });

/// Two `Sessions` over one `Arc<RedbStore>` in one process (two engines
/// sharing the file) share every session, in both directions.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sessions_share_one_redb_store() {
    use latchkey::web::{SessionConfig, Sessions, StorageSessionStore};
    let store = Arc::new(fresh_store());
    let config = SessionConfig::for_issuer("https://auth.example");
    let keys = Arc::new(latchkey::Keyring::new(&[(1, [3u8; 32])]).unwrap());
    let a = Sessions::new(
        Arc::new(StorageSessionStore::new(store.clone())),
        config.clone(),
    )
    .with_keys(keys.clone());
    let b = Sessions::new(Arc::new(StorageSessionStore::new(store)), config).with_keys(keys);
    latchkey::conformance::shared_sessions_check(&a, &b).await;
    latchkey::conformance::shared_sessions_check(&b, &a).await;
}
