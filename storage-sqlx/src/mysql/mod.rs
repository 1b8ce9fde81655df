//! MySQL 8 / MariaDB 10.11+ store.
//!
//! Neither has data-modifying CTEs, and MySQL has no `RETURNING`, so each
//! contract is a short transaction: a conditional `UPDATE` whose matched-row
//! count decides (sqlx sets `CLIENT_FOUND_ROWS`, so it counts matched, not
//! changed, rows), followed by the inserts. Sessions run at READ COMMITTED:
//! a statement that waited for a row lock then sees what the lock holder
//! committed, and InnoDB takes no gap locks, which keeps deadlocks rare
//! (those that happen are retried).

mod migrate;
mod ops;

use std::time::Duration;

use latchkey::storage::StorageResult;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::Executor as _;

use crate::codec::Cols;
use crate::error::{into_storage, DbError};
use crate::migrate::{MigrateOptions, MigrateReport};

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
    #[cfg(any(feature = "postgres", feature = "sqlite"))]
    fn opt_boolean(&self, col: &str) -> Result<Option<bool>, DbError> {
        Ok(sqlx::Row::try_get(self, col)?)
    }
}

/// Latchkey storage on MySQL or MariaDB. Cheap to clone (shares the pool).
#[derive(Clone, Debug)]
pub struct MySqlStore {
    pool: MySqlPool,
}

impl MySqlStore {
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
        Ok(MySqlStore { pool })
    }

    /// The default pool settings: 16 connections, 5 s acquire timeout,
    /// idle connections recycled after 10 minutes, liveness check on
    /// acquire.
    #[must_use]
    pub fn pool_options() -> MySqlPoolOptions {
        MySqlPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .idle_timeout(Duration::from_secs(600))
            .test_before_acquire(true)
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// Applies the embedded migrations not applied yet; several instances
    /// may call it at once (they serialise on `GET_LOCK`).
    ///
    /// # Errors
    /// `Unavailable` when unreachable or a change kept timing out on its
    /// metadata lock; `Backend` when a migration fails or was edited.
    pub async fn migrate(&self) -> StorageResult<MigrateReport> {
        self.migrate_with(&MigrateOptions::default()).await
    }

    /// [`MySqlStore::migrate`] with explicit options.
    ///
    /// # Errors
    /// As [`MySqlStore::migrate`].
    pub async fn migrate_with(&self, opts: &MigrateOptions) -> StorageResult<MigrateReport> {
        migrate::run(&self.pool, opts).await
    }
}
