//! PostgreSQL (13+) store.
//!
//! Hot paths are single statements: data-modifying CTEs do the
//! compare-and-swap, the inserts, the grant touch and the event append in
//! one round trip, atomically (a statement outside a transaction block is
//! its own transaction). Operations that must see rows committed while they
//! waited for a lock (cascading revocations) use a short transaction of
//! several statements, because under READ COMMITTED each statement takes a
//! new snapshot but a CTE shares one.

#[macro_use]
mod sql;

mod backfill;
mod challenges;
mod clients;
mod codes;
mod devices;
mod events;
mod grants;
mod migrate;
mod purge;
mod sessions;
mod signing_keys;
mod tokens;

use std::time::Duration;

use latchkey::storage::StorageResult;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};

use crate::codec::impl_cols;
use crate::error::into_storage;
use crate::migrate::{MigrateOptions, MigrateReport};

impl_cols!(PgRow);

/// Latchkey storage on PostgreSQL. Cheap to clone (shares the pool).
///
/// Several processes may use one database at once: every contract is
/// enforced by the database (row locks, conditional updates, unique
/// constraints), never by process memory.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects with default pool settings (see [`PgStore::pool_options`]).
    /// The schema is not touched: call [`PgStore::migrate`].
    ///
    /// # Errors
    /// [`latchkey::storage::StorageError::Unavailable`] when the server
    /// cannot be reached, `Backend` for a malformed URL.
    pub async fn connect(url: &str) -> StorageResult<Self> {
        let opts: PgConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| into_storage(e.into()))?;
        Self::connect_with(Self::pool_options(), opts).await
    }

    /// Connects with the given pool and connection settings.
    ///
    /// # Errors
    /// As [`PgStore::connect`].
    pub async fn connect_with(pool: PgPoolOptions, opts: PgConnectOptions) -> StorageResult<Self> {
        let pool = pool
            .connect_with(opts)
            .await
            .map_err(|e| into_storage(e.into()))?;
        Ok(Self::from_pool(pool))
    }

    /// The default pool settings: 16 connections, 5 s acquire timeout (then
    /// calls fail with `Unavailable`), idle connections recycled after 10
    /// minutes, and a liveness check on acquire only for a connection that
    /// sat idle for [`IDLE_CHECK`](crate::IDLE_CHECK) or more.
    ///
    /// A busy pool hands out connections without a ping: sqlx 0.8 already
    /// pings every connection when it is returned (in the background, off
    /// the caller's path) and drops it if that fails, so a connection in
    /// the idle queue was alive moments ago. One that dies while idle (a
    /// server restart, a cut network) makes the next statement on it fail
    /// with an I/O error, which is `Unavailable` (the caller may retry; no
    /// call ever reports a success it did not have), and sqlx discards it.
    /// Checking connections idle for a while keeps that from happening after
    /// a quiet spell or an outage (the outage recovery test,
    /// `tests/pg_recovery.rs`, needs it); under load it costs nothing.
    #[must_use]
    pub fn pool_options() -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .idle_timeout(Duration::from_secs(600))
            .test_before_acquire(false)
            .before_acquire(crate::ping_if_idle)
    }

    /// A store over an existing pool.
    ///
    /// The store starts its transactions so that a cancelled call cannot
    /// leak one; if other code shares the pool, it must too: with sqlx 0.8.6 a
    /// `pool.begin()` dropped during its `BEGIN` round trip returns its
    /// connection to the pool inside a transaction, and store writes that
    /// later run on it are not committed when they return.
    #[must_use]
    pub fn from_pool(pool: PgPool) -> Self {
        PgStore { pool }
    }

    /// The pool, for health checks or shutdown.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies the embedded migrations that are not applied yet. Safe to
    /// call from several instances at once (they serialise on an advisory
    /// lock).
    ///
    /// # Errors
    /// `Unavailable` when the database is unreachable or a schema change
    /// kept timing out on its lock; `Backend` when a migration fails or an
    /// applied migration was edited.
    pub async fn migrate(&self) -> StorageResult<MigrateReport> {
        self.migrate_with(&MigrateOptions::default()).await
    }

    /// [`PgStore::migrate`] with explicit options.
    ///
    /// # Errors
    /// As [`PgStore::migrate`].
    pub async fn migrate_with(&self, opts: &MigrateOptions) -> StorageResult<MigrateReport> {
        crate::migrate::runner::run(&self.pool, opts).await
    }
}

/// A count as a bound value.
fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Appends events as the last step of a transaction: inserts them into
/// `lk_events_pending`, which takes no lock another writer needs. They get
/// their `seq` when a reader numbers them (`events::sequence`); calling
/// this last, after every row change, is what keeps conflicting
/// transactions' events in commit order.
pub(crate) async fn append_events(
    conn: &mut sqlx::PgConnection,
    events: &[latchkey::model::NewEvent],
) -> Result<(), crate::error::DbError> {
    if events.is_empty() {
        return Ok(());
    }
    let (at, kind, audit) = crate::codec::event_columns(events)?;
    sqlx::query(concat!(
        "WITH ",
        pg_events!("$1", "$2", "$3", "$4", "TRUE"),
        "SELECT count(*) FROM ev"
    ))
    .bind(count(events.len()))
    .bind(at)
    .bind(kind)
    .bind(audit)
    .execute(conn)
    .await?;
    Ok(())
}
