//! SQLite store: one database file (or memory) in one process.
//!
//! SQLite has a single writer: every write runs in a `BEGIN IMMEDIATE`
//! transaction, which takes the write lock up front (so two transactions
//! never deadlock upgrading a read lock), and WAL mode lets readers go on
//! meanwhile. Atomic contracts therefore hold for every connection and
//! process that opens the same file. Statements run in-process, so "round
//! trips" are cheap library calls; the counts are still kept small.

mod migrate;
mod ops;

use std::str::FromStr;
use std::time::Duration;

use latchkey::storage::StorageResult;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};

use crate::codec::impl_cols;
use crate::error::into_storage;
use crate::migrate::{MigrateOptions, MigrateReport};

impl_cols!(SqliteRow);

/// Latchkey storage on SQLite. Cheap to clone (shares the pool).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path`, in WAL mode
    /// with a 5 s busy timeout. Call [`SqliteStore::migrate`] next.
    ///
    /// # Errors
    /// `Unavailable` when the file cannot be opened or is locked; `Backend`
    /// for an invalid path.
    pub async fn open(path: impl AsRef<std::path::Path>) -> StorageResult<Self> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed revocation must survive a power cut, not only
            // a process crash (NORMAL in WAL mode only promises the latter).
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        Self::connect_with(SqlitePoolOptions::new().max_connections(8), opts).await
    }

    /// A private in-memory database (tests, single-process tools). It lives
    /// as long as the store: one connection that is never recycled.
    ///
    /// # Errors
    /// `Backend` if SQLite cannot be initialised.
    pub async fn memory() -> StorageResult<Self> {
        let opts = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|e| into_storage(e.into()))?;
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
        Self::connect_with(pool, opts).await
    }

    /// Connects with explicit pool and connection settings.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub async fn connect_with(
        pool: SqlitePoolOptions,
        opts: SqliteConnectOptions,
    ) -> StorageResult<Self> {
        let pool = pool
            .connect_with(opts)
            .await
            .map_err(|e| into_storage(e.into()))?;
        Ok(SqliteStore { pool })
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Applies the embedded migrations not applied yet.
    ///
    /// # Errors
    /// `Backend` when a migration fails or an applied one was edited.
    pub async fn migrate(&self) -> StorageResult<MigrateReport> {
        self.migrate_with(&MigrateOptions::default()).await
    }

    /// [`SqliteStore::migrate`] with explicit options.
    ///
    /// # Errors
    /// As [`SqliteStore::migrate`].
    pub async fn migrate_with(&self, opts: &MigrateOptions) -> StorageResult<MigrateReport> {
        migrate::run(&self.pool, opts).await
    }
}
