//! The model target (`engine_memory`) against the redb backend, opened
//! afresh in a temporary directory for every input (in `/dev/shm` where
//! there is one, so the file system is not what is measured).
#![no_main]

use std::sync::Arc;

use latchkey_fuzz::model::{self, Op};
use latchkey_redb::RedbStore;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ops = Op::decode(data);
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("temporary directory");
    let store = RedbStore::open(dir.path().join("latchkey.redb")).expect("open redb");
    let (engine, clock) = latchkey_fuzz::engine_with(Arc::new(store), model::config());
    latchkey_fuzz::block_on(model::run(engine, clock, &ops));
});
