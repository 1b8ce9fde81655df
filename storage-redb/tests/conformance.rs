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
