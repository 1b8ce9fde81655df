//! The migration runner, written once; each dialect's `migrate.rs`
//! supplies the hooks in [`MigrateDialect`]: its lock, its table, and how
//! one file is applied (in a transaction, statement by statement, or
//! outside any transaction).

use std::future::Future;

use latchkey::storage::StorageResult;
use sqlx::{Database, Executor, IntoArguments, Pool};

use super::{edited, plan, MigrateOptions, MigrateReport, Migration};
use crate::codec::Cols;
use crate::error::{backoff, class_of, into_storage, Class, DbError};

/// What a dialect tells the runner.
pub(crate) trait MigrateDialect: Database<Row: Cols> {
    /// Creates `lk_schema_migrations` if it does not exist.
    const SCHEMA_TABLE: &'static str;

    /// The migrations shipped for this dialect.
    fn migrations() -> Vec<Migration>;

    /// Takes the database-wide lock that serialises runners, held by the
    /// run's session (so the server frees it if this process dies).
    fn lock(conn: &mut Self::Connection) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Releases the lock; an error means the session may still hold it.
    fn unlock(conn: &mut Self::Connection) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Session settings for the run, such as how long a change may wait
    /// for a lock.
    fn prepare(
        _conn: &mut Self::Connection,
        _opts: &MigrateOptions,
    ) -> impl Future<Output = Result<(), DbError>> + Send {
        async { Ok(()) }
    }

    /// Applies one migration and records it; `false` when another runner
    /// applied it first.
    fn apply(
        conn: &mut Self::Connection,
        m: &Migration,
        opts: &MigrateOptions,
    ) -> impl Future<Output = Result<bool, DbError>> + Send;
}

/// Applies the migrations of `DB` (and `opts.extra`) not applied yet.
pub(crate) async fn run<DB>(pool: &Pool<DB>, opts: &MigrateOptions) -> StorageResult<MigrateReport>
where
    DB: MigrateDialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    let all = plan(DB::migrations(), opts)?;
    let mut lease = Lease(Some(
        pool.acquire().await.map_err(|e| into_storage(e.into()))?,
    ));
    let conn = lease.0.as_mut().expect("leased");
    DB::lock(conn).await.map_err(into_storage)?;
    let result = apply_all::<DB>(conn, &all, opts).await;
    if DB::unlock(conn).await.is_ok() {
        lease.release();
    }
    result.map_err(into_storage)
}

/// The migration connection: closed when dropped, unless released. If the
/// caller of [`run`] is cancelled half-way (or unlocking failed), the
/// connection may still hold the session lock, or a transaction (see
/// `crate::tx`); back in the pool, it would keep other instances' migrations
/// waiting, so it is closed instead, which ends both on the server.
struct Lease<DB: Database>(Option<sqlx::pool::PoolConnection<DB>>);

impl<DB: Database> Lease<DB> {
    /// Hands the connection back to the pool.
    fn release(mut self) {
        self.0.take();
    }
}

impl<DB: Database> Drop for Lease<DB> {
    fn drop(&mut self) {
        if let Some(conn) = self.0.as_mut() {
            conn.close_on_drop();
        }
    }
}

async fn apply_all<DB>(
    conn: &mut DB::Connection,
    all: &[Migration],
    opts: &MigrateOptions,
) -> Result<MigrateReport, DbError>
where
    DB: MigrateDialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    Executor::execute(&mut *conn, DB::SCHEMA_TABLE).await?;
    let applied =
        sqlx::query("SELECT version, checksum FROM lk_schema_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| Ok((r.i64("version")?, r.bytes("checksum")?)))
            .collect::<Result<Vec<(i64, Vec<u8>)>, DbError>>()?;
    DB::prepare(conn, opts).await?;
    let mut report = MigrateReport::default();
    for m in all {
        if let Some((_, sum)) = applied.iter().find(|(v, _)| *v == m.version) {
            if *sum != m.checksum() {
                return Err(edited(m).into());
            }
            continue;
        }
        let mut attempt = 1;
        loop {
            match DB::apply(conn, m, opts).await {
                Ok(true) => {
                    report.applied.push(m.version);
                    break;
                }
                Ok(false) => break,
                // Gave up waiting for a lock: let the queue behind us
                // drain, then try again.
                Err(DbError::Sql(e)) if class_of(&e) == Class::Retry && attempt < opts.attempts => {
                    report.lock_retries += 1;
                    backoff(attempt.min(5)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(report)
}
