//! The SQLite hooks of the backfill runner (see `crate::backfill`). One
//! writer at a time: a batch holds the database's write lock while it
//! runs, so batches stay small and the pause between them is where other
//! writers get in.

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection as _, Sqlite, Transaction};

use crate::backfill::runner::BackfillDialect;
use crate::backfill::BackfillOptions;
use crate::error::{sqlite_busy, DbError};

impl BackfillDialect for Sqlite {
    const NUMBERED: bool = false;
    const PROGRESS_TABLE: &'static str = "CREATE TABLE IF NOT EXISTS lk_backfills (\
           name TEXT PRIMARY KEY, cursor_int INTEGER, cursor_text TEXT, cursor_bytes BLOB, \
           scanned INTEGER NOT NULL DEFAULT 0, updated INTEGER NOT NULL DEFAULT 0, \
           batches INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0)";
    const REGISTER: &'static str =
        "INSERT INTO lk_backfills (name) VALUES (?) ON CONFLICT (name) DO NOTHING";

    /// How long a batch waits for the write lock.
    async fn prepare(conn: &mut SqliteConnection, opts: &BackfillOptions) -> Result<(), DbError> {
        let ms = opts.lock_timeout.as_millis().max(1);
        sqlx::Executor::execute(&mut *conn, format!("PRAGMA busy_timeout = {ms}").as_str()).await?;
        Ok(())
    }

    /// `BEGIN IMMEDIATE`: the write lock up front, as every writer here
    /// takes it.
    async fn begin<'c>(
        conn: &'c mut SqliteConnection,
        _opts: &BackfillOptions,
    ) -> Result<Transaction<'c, Sqlite>, DbError> {
        Ok(conn.begin_with("BEGIN IMMEDIATE").await?)
    }

    fn affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn lock_timeout(e: &sqlx::Error) -> bool {
        sqlite_busy(e)
    }

    /// An exact count: SQLite keeps no estimate, and its tables are small
    /// enough to count.
    async fn estimate(conn: &mut SqliteConnection, table: &str) -> Result<Option<u64>, DbError> {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(conn)
            .await?;
        Ok(u64::try_from(n).ok())
    }
}
