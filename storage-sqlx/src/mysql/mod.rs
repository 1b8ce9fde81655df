//! MySQL 8 / MariaDB 10.11+ store: the shared `?`-dialect implementation,
//! [`QmarkStore`], with MySQL's dialect hooks.
//!
//! Neither has data-modifying CTEs, and MySQL has no `RETURNING`, so each
//! contract is a short transaction: a conditional `UPDATE` whose matched-row
//! count decides (sqlx sets `CLIENT_FOUND_ROWS`, so it counts matched, not
//! changed, rows), followed by the inserts. Sessions run at READ COMMITTED:
//! a statement that waited for a row lock then sees what the lock holder
//! committed, and InnoDB takes no gap locks, which keeps deadlocks rare
//! (those that happen are retried).

mod backfill;
mod migrate;
mod purge;

use std::time::Duration;

use latchkey::clock::Timestamp;
use latchkey::storage::{PurgeReport, StorageResult};
use sqlx::mysql::{
    MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions, MySqlQueryResult, MySqlRow,
};
use sqlx::{Executor as _, MySql, Transaction};

use crate::codec::Cols;
use crate::error::{corrupt, into_storage, DbError};
use crate::qmark::{Affected, Dialect};
use crate::QmarkStore;

/// sqlx reports text columns with a binary collation (`utf8mb4_bin`, used
/// here so ids compare byte-wise) as VARBINARY and refuses to decode them as
/// `String`; the bytes are UTF-8 text, so text is read unchecked.
impl Cols for MySqlRow {
    fn i64(&self, col: &str) -> Result<i64, DbError> {
        Ok(sqlx::Row::try_get(self, col)?)
    }
    fn opt_i64(&self, col: &str) -> Result<Option<i64>, DbError> {
        Ok(sqlx::Row::try_get(self, col)?)
    }
    fn text(&self, col: &str) -> Result<String, DbError> {
        Ok(sqlx::Row::try_get_unchecked(self, col)?)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, DbError> {
        Ok(sqlx::Row::try_get_unchecked(self, col)?)
    }
    fn bytes(&self, col: &str) -> Result<Vec<u8>, DbError> {
        Ok(sqlx::Row::try_get(self, col)?)
    }
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, DbError> {
        Ok(sqlx::Row::try_get(self, col)?)
    }
    fn boolean(&self, col: &str) -> Result<bool, DbError> {
        Ok(sqlx::Row::try_get(self, col)?)
    }
}

impl Affected for MySqlQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl Dialect for MySql {
    const ROW_LOCKS: bool = true;
    const RETURNING: bool = false;
    const SHARE_LOCK: &'static str = " LOCK IN SHARE MODE";
    const ROW_LOCK: &'static str = " FOR UPDATE";
    const GRANT_IF_ABSENT: &'static str = " ON DUPLICATE KEY UPDATE id = id";
    const REGISTER_CURSOR: &'static str =
        "INSERT INTO lk_event_cursors (consumer, seq) VALUES (?, 0) ON DUPLICATE KEY UPDATE seq = seq";
    const ADVANCE_CURSOR: &'static str =
        "INSERT INTO lk_event_cursors (consumer, seq) VALUES (?, ?) \
         ON DUPLICATE KEY UPDATE seq = GREATEST(seq, VALUES(seq))";

    async fn begin_write(pool: &MySqlPool) -> Result<Transaction<'static, MySql>, DbError> {
        Ok(crate::tx::begin(pool, None).await?)
    }

    /// `LAST_INSERT_ID(expr)` hands the new value back in the same round
    /// trip (MySQL has no `RETURNING`).
    async fn take_seqs(conn: &mut MySqlConnection, n: i64) -> Result<i64, DbError> {
        let last = sqlx::query(
            "UPDATE lk_event_counter SET last_seq = LAST_INSERT_ID(last_seq + ?) WHERE id = 1",
        )
        .bind(n)
        .execute(conn)
        .await?
        .last_insert_id();
        i64::try_from(last).map_err(|_| corrupt("event counter overflow"))
    }

    async fn purge(pool: &MySqlPool, now: Timestamp, n: i64) -> Result<PurgeReport, DbError> {
        purge::purge_once(pool, now, n).await
    }

    async fn purge_sessions(
        pool: &MySqlPool,
        idle_before: Timestamp,
        created_before: Timestamp,
        n: i64,
    ) -> Result<u64, DbError> {
        purge::purge_sessions(pool, idle_before, created_before, n).await
    }
}

/// Latchkey storage on MySQL or MariaDB. Cheap to clone (shares the pool).
pub type MySqlStore = QmarkStore<MySql>;

impl QmarkStore<MySql> {
    /// Connects with default pool settings (see [`MySqlStore::pool_options`]).
    /// Call [`MySqlStore::migrate`] next.
    ///
    /// # Errors
    /// `Unavailable` when the server cannot be reached, `Backend` for a
    /// malformed URL.
    pub async fn connect(url: &str) -> StorageResult<Self> {
        let opts: MySqlConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| into_storage(e.into()))?;
        Self::connect_with(Self::pool_options(), opts).await
    }

    /// Connects with explicit settings. Every new connection is switched to
    /// READ COMMITTED with a 5 s row-lock wait limit, which the store relies
    /// on.
    ///
    /// # Errors
    /// As [`MySqlStore::connect`].
    pub async fn connect_with(
        pool: MySqlPoolOptions,
        opts: MySqlConnectOptions,
    ) -> StorageResult<Self> {
        let pool = pool
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // Two statements: the variable behind the isolation level
                    // has different names on MySQL 8 and MariaDB 10.11.
                    conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        .await?;
                    conn.execute("SET SESSION innodb_lock_wait_timeout = 5")
                        .await?;
                    Ok(())
                })
            })
            .connect_with(opts)
            .await
            .map_err(|e| into_storage(e.into()))?;
        Ok(QmarkStore::from_pool(pool))
    }

    /// The default pool settings: 16 connections, 5 s acquire timeout,
    /// idle connections recycled after 10 minutes, and a liveness check on
    /// acquire only for a connection idle for [`IDLE_CHECK`](crate::IDLE_CHECK)
    /// or more (why that is enough: `PgStore::pool_options`).
    #[must_use]
    pub fn pool_options() -> MySqlPoolOptions {
        MySqlPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .idle_timeout(Duration::from_secs(600))
            .test_before_acquire(false)
            .before_acquire(crate::ping_if_idle)
    }
}
