//! One implementation of every storage trait for the `?`-placeholder
//! dialects, MySQL/MariaDB and SQLite: [`QmarkStore`], generic over the sqlx
//! database.
//!
//! Neither dialect can do PostgreSQL's single-statement writes (MySQL has
//! no data-modifying CTEs and no `RETURNING`), so each contract is a short
//! transaction: a conditional `UPDATE` or `DELETE` whose matched-row count
//! decides, then the inserts, then the outbox append. The few places where
//! the two really differ are the [`Dialect`] trait: how a write
//! transaction begins, whether rows are locked, `RETURNING`, upsert syntax,
//! how the event counter hands its value back, and the purge.
//!
//! One file per capability, as in every dialect.

#[macro_use]
mod dialect;

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

use std::fmt;

use latchkey::storage::StorageResult;
use sqlx::{Database, Pool};

pub(crate) use dialect::{Affected, Dialect};

use crate::backfill::{Backfill, BackfillOptions, BackfillProgress, Flow};
use crate::migrate::runner;
use crate::migrate::{MigrateOptions, MigrateReport};

/// Latchkey storage on a `?`-placeholder database: used as
/// [`MySqlStore`](crate::MySqlStore) (`QmarkStore<sqlx::MySql>`) or
/// [`SqliteStore`](crate::SqliteStore) (`QmarkStore<sqlx::Sqlite>`). Cheap
/// to clone (shares the pool).
pub struct QmarkStore<DB: Database> {
    pool: Pool<DB>,
}

impl<DB: Database> Clone for QmarkStore<DB> {
    fn clone(&self) -> Self {
        QmarkStore {
            pool: self.pool.clone(),
        }
    }
}

impl<DB: Database> fmt::Debug for QmarkStore<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QmarkStore")
            .field("pool", &self.pool)
            .finish()
    }
}

impl<DB: Database> QmarkStore<DB> {
    /// A store over a connected pool; the dialect constructors set the
    /// session options the store relies on first.
    pub(crate) fn from_pool(pool: Pool<DB>) -> Self {
        QmarkStore { pool }
    }

    /// The pool, for health checks or shutdown.
    #[must_use]
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }
}

qmark_impl! {
    impl QmarkStore {
        /// Applies the embedded migrations not applied yet. Several
        /// instances may call it at once: MySQL runners serialise on
        /// `GET_LOCK`, SQLite runners on the database write lock.
        ///
        /// # Errors
        /// `Unavailable` when unreachable or a change kept timing out on its
        /// lock; `Backend` when a migration fails or an applied one was
        /// edited.
        pub async fn migrate(&self) -> StorageResult<MigrateReport> {
            self.migrate_with(&MigrateOptions::default()).await
        }

        /// [`QmarkStore::migrate`] with explicit options.
        ///
        /// # Errors
        /// As [`QmarkStore::migrate`].
        pub async fn migrate_with(&self, opts: &MigrateOptions) -> StorageResult<MigrateReport> {
            runner::run(&self.pool, opts).await
        }

        /// Runs the backfill `job` to the end, or resumes it where its
        /// last committed batch left it (see [`crate::backfill`]).
        /// `progress` sees every committed batch and may pause or stop the
        /// run.
        ///
        /// # Errors
        /// `Backend` for a malformed job or a failing `SET`; `Unavailable`
        /// when the database is unreachable or a batch kept timing out on
        /// its locks. Progress up to the last committed batch is kept
        /// either way.
        pub async fn backfill<F>(
            &self,
            job: &Backfill,
            opts: &BackfillOptions,
            progress: F,
        ) -> StorageResult<BackfillProgress>
        where
            F: FnMut(&BackfillProgress) -> Flow + Send,
        {
            crate::backfill::runner::run(&self.pool, job, opts, progress).await
        }
    }
}

/// A count as a bound value.
pub(crate) fn n64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `n` comma-separated copies of `item`, for `VALUES` and `IN` lists.
pub(crate) fn repeat(item: &str, n: usize) -> String {
    vec![item; n].join(", ")
}
