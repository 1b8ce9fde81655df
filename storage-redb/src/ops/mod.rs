//! The storage traits, one file per capability. Every state-changing method
//! is exactly one write transaction ([`crate::store::Inner::write`]), so each
//! atomic contract of [`latchkey::storage`] is one redb commit; reads run on
//! one snapshot.

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
