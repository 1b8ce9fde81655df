//! The storage traits, one file per capability. Every state-changing method
//! is exactly one write transaction ([`crate::RedbStore::write`], run by the
//! writer thread), so each atomic contract of [`latchkey::storage`] is one
//! redb commit; reads run in place on one durable snapshot
//! ([`crate::RedbStore::read`]).

mod challenges;
mod clients;
mod codes;
mod devices;
mod events;
mod grants;
mod purge;
mod sessions;
mod signing_keys;
mod tokens;
