//! Arbitrary sequences of engine operations on the memory store, checked
//! step by step against the reference model (`latchkey_fuzz::model`).
#![no_main]

use std::sync::Arc;

use latchkey::MemoryStore;
use latchkey_fuzz::model::{self, Op};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ops = Op::decode(data);
    let (engine, clock) = latchkey_fuzz::engine_with(Arc::new(MemoryStore::new()), model::config());
    latchkey_fuzz::block_on(model::run(engine, clock, &ops));
});
