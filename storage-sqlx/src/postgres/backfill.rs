//! The PostgreSQL hooks of the backfill runner (see `crate::backfill`).

use std::time::Duration;

use latchkey::storage::StorageResult;
use sqlx::postgres::PgConnection;
use sqlx::{Connection as _, Postgres, Transaction};

use crate::backfill::runner::{self, BackfillDialect};
use crate::backfill::{Backfill, BackfillOptions, BackfillProgress, Flow};
use crate::codec::Cols as _;
use crate::error::{class_of, Class, DbError};
use crate::PgStore;

impl BackfillDialect for Postgres {
    const NUMBERED: bool = true;
    const PROGRESS_TABLE: &'static str = "CREATE TABLE IF NOT EXISTS lk_backfills (\
           name TEXT PRIMARY KEY, cursor_int BIGINT, cursor_text TEXT, cursor_bytes BYTEA, \
           scanned BIGINT NOT NULL DEFAULT 0, updated BIGINT NOT NULL DEFAULT 0, \
           batches BIGINT NOT NULL DEFAULT 0, done BIGINT NOT NULL DEFAULT 0)";
    const REGISTER: &'static str =
        "INSERT INTO lk_backfills (name) VALUES ($1) ON CONFLICT (name) DO NOTHING";

    /// `SET LOCAL`: the timeout ends with the batch's transaction.
    async fn begin<'c>(
        conn: &'c mut PgConnection,
        opts: &BackfillOptions,
    ) -> Result<Transaction<'c, Postgres>, DbError> {
        let mut tx = conn.begin().await?;
        let ms = opts.lock_timeout.as_millis().max(1);
        sqlx::Executor::execute(
            &mut *tx,
            format!("SET LOCAL lock_timeout = '{ms}ms'").as_str(),
        )
        .await?;
        Ok(tx)
    }

    fn affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn lock_timeout(e: &sqlx::Error) -> bool {
        class_of(e) == Class::Retry
    }

    /// Sessions of this database blocked by this one. `pg_blocking_pids`
    /// takes the lock manager's locks, so it is only asked about sessions
    /// that wait for a heavyweight lock at all (usually none).
    async fn waiters(conn: &mut PgConnection) -> Result<u64, DbError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND CASE WHEN wait_event_type = 'Lock' \
                 THEN pg_backend_pid() = ANY (pg_blocking_pids(pid)) ELSE false END",
        )
        .fetch_one(conn)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// `reltuples`, as of the last `ANALYZE` or vacuum; a table never
    /// analyzed (-1) is counted instead, once, at the start of the run.
    async fn estimate(conn: &mut PgConnection, table: &str) -> Result<Option<u64>, DbError> {
        let n: Option<i64> = sqlx::query_scalar(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)",
        )
        .bind(table)
        .fetch_optional(&mut *conn)
        .await?;
        let n = match n {
            Some(n) if n < 0 => {
                sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
                    .fetch_one(&mut *conn)
                    .await?
            }
            Some(n) => n,
            None => return Ok(None),
        };
        Ok(u64::try_from(n).ok())
    }

    /// The largest `replay_lag` in `pg_stat_replication` (null for a
    /// replica that has caught up and gone idle, and invisible without
    /// `pg_monitor`: both read as no lag).
    async fn replica_lag(conn: &mut PgConnection) -> Result<Option<Duration>, DbError> {
        let row = sqlx::query(
            "SELECT (extract(epoch FROM max(replay_lag)) * 1000)::bigint AS ms \
             FROM pg_stat_replication",
        )
        .fetch_one(conn)
        .await?;
        Ok(row
            .opt_i64("ms")?
            .and_then(|ms| u64::try_from(ms).ok())
            .map(Duration::from_millis))
    }
}

impl PgStore {
    /// Runs the backfill `job` to the end, or resumes it where its last
    /// committed batch left it (see [`crate::backfill`]). `progress` sees
    /// every committed batch and may pause or stop the run.
    ///
    /// # Errors
    /// `Backend` for a malformed job or a failing `SET`; `Unavailable`
    /// when the database is unreachable or a batch kept timing out on its
    /// locks. Progress up to the last committed batch is kept either way.
    pub async fn backfill<F>(
        &self,
        job: &Backfill,
        opts: &BackfillOptions,
        progress: F,
    ) -> StorageResult<BackfillProgress>
    where
        F: FnMut(&BackfillProgress) -> Flow + Send,
    {
        runner::run(self.pool(), job, opts, progress).await
    }
}
