//! SQLite store: the shared `?`-dialect implementation, [`QmarkStore`],
//! with SQLite's dialect hooks, on one database file (or memory).
//!
//! SQLite has a single writer: every write runs in a `BEGIN IMMEDIATE`
//! transaction, which takes the write lock up front (so two transactions
//! never deadlock upgrading a read lock), and WAL mode lets readers go on
//! meanwhile. Atomic contracts therefore hold for every connection and
//! process that opens the same file. Statements run in-process, so "round
//! trips" are cheap library calls; the counts are still kept small.

mod backfill;
mod migrate;
mod purge;

use std::str::FromStr;
use std::time::Duration;

use latchkey::clock::Timestamp;
use latchkey::storage::{PurgeReport, StorageResult};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteQueryResult, SqliteRow, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::codec::impl_cols;
use crate::error::{into_storage, DbError};
use crate::qmark::{Affected, Dialect};
use crate::QmarkStore;

impl_cols!(SqliteRow);

impl Affected for SqliteQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl Dialect for Sqlite {
    const ROW_LOCKS: bool = false;
    const RETURNING: bool = true;
    // The write transaction (BEGIN IMMEDIATE) already excludes every other
    // writer: no row locks to ask for.
    const SHARE_LOCK: &'static str = "";
    const ROW_LOCK: &'static str = "";
    const GRANT_IF_ABSENT: &'static str = " ON CONFLICT (subject, client_id) DO NOTHING";
    const REGISTER_CURSOR: &'static str =
        "INSERT INTO lk_event_cursors (consumer, seq) VALUES (?, 0) ON CONFLICT (consumer) DO NOTHING";
    const ADVANCE_CURSOR: &'static str =
        "INSERT INTO lk_event_cursors (consumer, seq) VALUES (?, ?) \
         ON CONFLICT (consumer) DO UPDATE SET seq = MAX(seq, excluded.seq)";

    /// `BEGIN IMMEDIATE` takes the write lock up front, so two writers
    /// never deadlock upgrading a read lock.
    async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, DbError> {
        Ok(crate::tx::begin(pool, Some("BEGIN IMMEDIATE")).await?)
    }

    async fn take_seqs(conn: &mut SqliteConnection, n: i64) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar(
            "UPDATE lk_event_counter SET last_seq = last_seq + ? WHERE id = 1 RETURNING last_seq",
        )
        .bind(n)
        .fetch_one(conn)
        .await?)
    }

    async fn purge(pool: &SqlitePool, now: Timestamp, n: i64) -> Result<PurgeReport, DbError> {
        purge::purge_once(pool, now, n).await
    }

    async fn purge_sessions(
        pool: &SqlitePool,
        idle_before: Timestamp,
        created_before: Timestamp,
        n: i64,
    ) -> Result<u64, DbError> {
        purge::purge_sessions(pool, idle_before, created_before, n).await
    }
}

/// Latchkey storage on SQLite. Cheap to clone (shares the pool).
pub type SqliteStore = QmarkStore<Sqlite>;

impl QmarkStore<Sqlite> {
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
        Ok(QmarkStore::from_pool(pool))
    }
}
