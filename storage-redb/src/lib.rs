//! # latchkey-redb
//!
//! The embedded storage backend of [Latchkey](latchkey): every storage trait
//! ([`ClientStore`](latchkey::storage::ClientStore),
//! [`GrantStore`](latchkey::storage::GrantStore),
//! [`CodeStore`](latchkey::storage::CodeStore),
//! [`TokenStore`](latchkey::storage::TokenStore), …) on one
//! [redb](https://docs.rs/redb) file, with no server to run.
//!
//! ## Guarantees
//!
//! - **Atomic.** Every state-changing call is exactly one redb write
//!   transaction: a code redemption (code, family, refresh index, access
//!   token, grant touch, events), a rotation, a revocation with its outbox
//!   event or a cascade either commits whole or leaves no trace — also when
//!   the process is killed or panics mid-call. One writer thread runs the
//!   transactions one at a time, so compare-and-swap contracts cannot race.
//! - **Durable, with group commit.** When a call returns `Ok`, its change
//!   is on disk (fsynced) and survives a crash or power loss. Calls that
//!   arrive while a commit is under way are queued and run next, each in
//!   its own transaction (a call that fails or panics rolls back alone),
//!   and the whole batch is made durable by one fsync: the last
//!   transaction commits with [`Durability::Immediate`](redb::Durability::Immediate),
//!   the ones before it without a sync of their own. Throughput grows with
//!   concurrency instead of being one fsync per call. Calls that change
//!   nothing skip the commit. [`RedbStore::durable_commits`] counts the
//!   fsyncing commits.
//! - **Reads see durable state only, in place.** Reads run on the caller's
//!   thread (no hop to a blocking pool: a point read costs microseconds)
//!   on the snapshot published after the last durable commit, so nothing
//!   is ever read that a crash could still take back, and a caller whose
//!   write returned reads it.
//! - **Exclusive.** redb locks the file: a second handle, in this process or
//!   another, gets [`OpenError::AlreadyOpen`] instead of sharing it. Run one
//!   process per file; several Latchkey nodes need a shared SQL backend.
//! - **Versioned.** Each table is named for the schema version that
//!   introduced its layout (`v1/…`, `v2/…`, `v3/…`) and the file records its
//!   [`SCHEMA_VERSION`]. A file of an older version is upgraded in place
//!   on open, in one transaction (a crash during it leaves the old file
//!   intact); a file from a newer version is refused with
//!   [`OpenError::NewerSchema`].
//! - **Non-blocking writes.** redb is synchronous, so writes run on the
//!   store's writer thread and async callers only await the answer; a
//!   panic inside a call is reported as
//!   [`StorageError::Backend`](latchkey::storage::StorageError::Backend)
//!   and the transaction it was in is rolled back. Reads run in place: they
//!   touch only pages in redb's cache or the OS page cache of a local file.
//! - **Keyed by hash.** Tokens are stored and looked up by their
//!   [`TokenHash`](latchkey::token::TokenHash), never in the clear. Expiry
//!   indexes make [`purge_expired`](latchkey::storage::PurgeStore::purge_expired)
//!   cost what it removes, not the table size.
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//!
//! use latchkey::clock::Timestamp;
//! use latchkey::{Audit, Source};
//! use latchkey::model::{AccessTokenRecord, EventKind, NewEvent};
//! use latchkey::scope::ScopeSet;
//! use latchkey::storage::Storage;
//! use latchkey::token::TokenHash;
//! use latchkey_redb::RedbStore;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("latchkey.redb");
//! // Opening blocks on file I/O: do it at startup.
//! let store: Arc<dyn Storage> = Arc::new(RedbStore::open(&path)?);
//!
//! tokio::runtime::Runtime::new()?.block_on(async {
//!     let now = Timestamp(1_700_000_000);
//!     let token = AccessTokenRecord {
//!         hash: TokenHash([7; 32]),
//!         family_id: None,
//!         client_id: "svc".into(),
//!         subject: "svc".into(),
//!         scopes: ScopeSet::parse("dns:read")?,
//!         resources: vec![],
//!         issued_at: now,
//!         expires_at: now.plus(300),
//!         revoked_at: None,
//!     };
//!     store.insert_access_token(&token).await?;
//!     assert!(store.find_access_token(&token.hash).await?.is_some());
//!
//!     // Revocation and its outbox event commit together.
//!     let event = NewEvent {
//!         at: now,
//!         kind: EventKind::AccessTokenRevoked {
//!             client_id: "svc".into(),
//!             subject: "svc".into(),
//!         },
//!         // Who did it, from where: the engine fills this in from the
//!         // request (here the client itself, as at the RFC 7009 endpoint).
//!         audit: Audit::client("svc", Source::new(Some([192, 0, 2, 1].into()), Some("svc/1.0"))),
//!     };
//!     assert!(store.revoke_access_token(&token.hash, now, &[event]).await?);
//!     let events = store.poll_events("audit-log", 100).await?;
//!     assert_eq!(events.len(), 1);
//!     assert_eq!(events[0].audit.as_ref().and_then(|a| a.source.user_agent()), Some("svc/1.0"));
//!     store.ack_events("audit-log", events[0].seq).await?;
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod codec;
mod error;
mod hooks;
#[cfg(test)]
mod index_tests;
mod ops;
mod read;
mod space;
mod store;
mod tables;
mod tx;
mod writer;

pub use error::OpenError;
#[cfg(feature = "test-hooks")]
pub use hooks::FaultHook;
pub use space::TableSpace;
pub use store::RedbStore;
pub use tables::SCHEMA_VERSION;

/// Names of every data table of the current [`SCHEMA_VERSION`] (each
/// prefixed `v<n>/`, `n` the version that introduced its layout), and of
/// the unversioned meta table that records the version. For tooling and
/// tests.
#[must_use]
pub fn table_names() -> (Vec<&'static str>, &'static str) {
    (
        tables::versioned_table_names(),
        redb::TableHandle::name(&tables::META),
    )
}
