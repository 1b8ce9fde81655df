//! # latchkey-sqlx
//!
//! SQL storage for [Latchkey](latchkey) through sqlx 0.8: one store type per
//! dialect, each implementing every [`latchkey::storage`] trait (and so
//! [`latchkey::storage::Storage`]).
//!
//! | feature    | type            | servers                         |
//! |------------|-----------------|---------------------------------|
//! | `postgres` | [`PgStore`]     | PostgreSQL 13+                  |
//! | `mysql`    | `MySqlStore`    | MySQL 8, MariaDB 10.11+         |
//! | `sqlite`   | `SqliteStore`   | SQLite 3.35+ (bundled)          |
//!
//! PostgreSQL has its own implementation (single-statement writes). The
//! `?`-placeholder dialects share one, `QmarkStore<DB>`: `MySqlStore` and
//! `SqliteStore` are its instances, and a small dialect trait holds the few
//! statements that differ.
//!
//! ```ignore
//! let store = latchkey_sqlx::PgStore::connect("postgres://app@db/latchkey").await?;
//! store.migrate().await?; // explicit: never implicit on connect
//! let store = std::sync::Arc::new(store); // hand it to the engine
//! ```
//!
//! ## SQL or redb?
//!
//! Choose **redb** (`latchkey-redb`) for a single process with its own disk:
//! no server to run, the lowest latency, but one writer process and no
//! sharing. Choose **SQL** when several instances serve one issuer (load
//! balancing, rolling deploys, failover), when the database is already
//! operated and backed up, or when other tools must read the data
//! (connected-apps pages, audits, the outbox). PostgreSQL is the first
//! choice: every hot call is one statement. MySQL/MariaDB works with the
//! same guarantees at more round trips. SQLite suits a single host that
//! wants SQL tooling; several processes may share its file, one writer at a
//! time.
//!
//! ## Several instances on one database
//!
//! Nothing is cached and no contract uses process memory: compare-and-swap
//! updates checked by matched-row counts, row locks, and unique constraints
//! decide every race (one winner among concurrent code redemptions, refresh
//! rotations, challenge takes), whichever instance or process the callers
//! run in. A revocation through one instance is seen by the next read
//! through any other. To run several:
//!
//! * point every instance at the same database; give each its own pool
//!   (size pools so that instances × `max_connections` stays under the
//!   server's limit);
//! * call `migrate()` from each at start-up, or from a deploy step: runners
//!   serialise on a database lock and skip what is applied. Migrations are
//!   expand/contract (see `MIGRATIONS.md`), so the old and the new release
//!   run side by side during a rolling deploy;
//! * consume the outbox either with one cursor per consumer
//!   (`poll_events` / `ack_events`: every consumer sees every event, in
//!   order), or, on PostgreSQL, with a shared group
//!   ([`PgStore::claim_events`] / [`PgStore::complete_events`]: several
//!   workers split the events, `FOR UPDATE SKIP LOCKED`, under a lease);
//! * run `purge_expired` from any instance (or all): batches skip rows
//!   others hold and are bounded by `limit`.
//!
//! ## Backfills
//!
//! Migrations only add (see `MIGRATIONS.md`); filling a new column on the
//! rows written before is the job of [`PgStore::backfill`] (and
//! `MySqlStore::backfill`, `SqliteStore::backfill`): keyset batches, each
//! its own short transaction under a short lock timeout, resumable after
//! a crash without updating a row twice, throttled, with progress
//! reports. See [`backfill`].
//!
//! ## The outbox
//!
//! Events are appended in the same transaction (or statement) as the change,
//! and a consumer reading `seq > cursor` must never skip an event that
//! commits later with a lower number (which a bare `SEQUENCE` or
//! `AUTO_INCREMENT` would allow).
//!
//! * MySQL/MariaDB and SQLite: `seq` comes from a one-row counter table that
//!   the appending transaction updates as its last write; the row lock is
//!   held to commit, so numbers are handed out in commit order and every
//!   reader sees a gap-free prefix. Event-appending transactions serialise
//!   for their tail, including the commit flush; operations that append
//!   nothing never touch the counter.
//! * PostgreSQL: writers insert their events into `lk_events_pending`, last
//!   in the transaction, and take no lock for numbering. Readers
//!   (`poll_events`, `claim_events`, `purge_expired`) number committed
//!   pending events under the counter's row lock before they read, so every
//!   reader still sees a gap-free prefix and events of transactions that
//!   conflict on a row keep their commit order. With 32 writers on the
//!   2-core test machine: about 470 appends per second with the counter,
//!   1,850 without (`tests/pg_event_appends.rs`); the argument, and what
//!   holds while instances of the previous release still run, are in
//!   `src/postgres/events.rs`.
//!
//! ## Errors
//!
//! Connection loss, pool timeouts, server shutdown, too many connections,
//! and statement timeouts are [`StorageError::Unavailable`]; deadlocks,
//! serialization failures and lock timeouts are retried internally (the
//! database rolled the attempt back) and reported as `Unavailable` if they
//! persist. Unique violations are `Conflict`; anything else is `Backend`.
//! Nothing panics on bad data: undecodable rows are `Backend`. The pool
//! replaces broken connections, so calls succeed again as soon as the
//! database is back, with the same store.
//!
//! ## Round trips (measured by `tests/pg_recovery.rs` and
//! `tests/mysql_round_trips.rs` through a counting proxy)
//!
//! | call                     | PostgreSQL | MySQL/MariaDB |
//! |--------------------------|-----------:|--------------:|
//! | `redeem_code` (issued)   | 1          | 9             |
//! | `rotate_family` (rotated)| 1          | 6             |
//! | `find_access_token`      | 1          | 1             |
//! | `find_refresh_token`     | 1          | 1             |
//! | `revoke_family` + event  | 1          | 5             |
//! | `poll_events`            | 1          | 2             |
//!
//! Statement round trips only. sqlx 0.8 also pings a connection when it is
//! returned to the pool (always, in the background: not on the caller's
//! path, but the connection is back in the pool only after it). The
//! default pools check a connection before handing it out only when it sat
//! idle for [`IDLE_CHECK`] or more (PostgreSQL and MySQL/MariaDB), so a busy pool pays no extra round trip.
//!
//! ## Tests and their environment
//!
//! `cargo test -p latchkey-sqlx --all-features` runs against real servers:
//! `LATCHKEY_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and `LATCHKEY_TEST_MYSQL_URL`
//! (default `mysql://root@127.0.0.1:3306/test`); the user must be allowed to
//! create databases (each case makes and drops `lk_t…`). With `CI=true` an
//! unreachable server fails the run; otherwise the affected test binary is
//! skipped with a loud banner on stderr. `scripts/ensure-databases.sh`
//! starts and waits for both servers.
//!
//! [`StorageError::Unavailable`]: latchkey::storage::StorageError::Unavailable
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Without a dialect only the migration types remain; the shared codec is
// used by the dialect modules.
#![cfg_attr(
    not(any(feature = "postgres", feature = "mysql", feature = "sqlite")),
    allow(dead_code, unused_imports, unused_macros)
)]

pub mod backfill;
mod codec;
mod error;
pub mod migrate;
mod send_check;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod tx;

#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "mysql", feature = "sqlite"))]
mod qmark;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use backfill::{Backfill, BackfillOptions, BackfillProgress, Flow, Key, KeyKind};
pub use migrate::{MigrateOptions, MigrateReport, Migration};
#[cfg(feature = "mysql")]
pub use mysql::MySqlStore;
#[cfg(feature = "postgres")]
pub use postgres::PgStore;
#[cfg(any(feature = "mysql", feature = "sqlite"))]
pub use qmark::QmarkStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
/// The sqlx this crate is built on, for pool and connection options.
pub use sqlx;

/// How long a pooled connection may sit idle before the default pools
/// (`PgStore::pool_options`, `MySqlStore::pool_options`) ping it before
/// handing it out; a connection used more recently is handed out as is.
/// Under load connections are reused within milliseconds and never pinged;
/// a connection that died idle can only be handed out unchecked if it died
/// within this window, when the calls in flight on it failed too.
pub const IDLE_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// The default pools' `before_acquire` check: pings a connection that sat
/// idle for [`IDLE_CHECK`] or more; an error makes the pool drop it and
/// take or open another.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn ping_if_idle<C: sqlx::Connection>(
    conn: &mut C,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        if meta.idle_for >= IDLE_CHECK {
            conn.ping().await?;
        }
        Ok(true)
    })
}
