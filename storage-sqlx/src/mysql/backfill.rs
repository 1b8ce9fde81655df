//! The MySQL/MariaDB hooks of the backfill runner (see `crate::backfill`).

use sqlx::mysql::MySqlConnection;
use sqlx::{Connection as _, MySql, Transaction};

use crate::backfill::runner::BackfillDialect;
use crate::backfill::BackfillOptions;
use crate::error::{class_of, Class, DbError};

impl BackfillDialect for MySql {
    const NUMBERED: bool = false;
    const PROGRESS_TABLE: &'static str = "CREATE TABLE IF NOT EXISTS lk_backfills (\
           name VARCHAR(191) NOT NULL PRIMARY KEY, cursor_int BIGINT NULL, \
           cursor_text TEXT NULL, cursor_bytes BLOB NULL, \
           scanned BIGINT NOT NULL DEFAULT 0, updated BIGINT NOT NULL DEFAULT 0, \
           batches BIGINT NOT NULL DEFAULT 0, done BIGINT NOT NULL DEFAULT 0) ENGINE=InnoDB";
    const REGISTER: &'static str =
        "INSERT INTO lk_backfills (name) VALUES (?) ON DUPLICATE KEY UPDATE name = name";

    /// READ COMMITTED, so a batch's range update takes no gap locks that
    /// would hold up inserts between its keys; and the row-lock wait
    /// limit, which InnoDB counts in whole seconds.
    async fn prepare(conn: &mut MySqlConnection, opts: &BackfillOptions) -> Result<(), DbError> {
        let secs = opts.lock_timeout.as_secs_f64().ceil().max(1.0);
        for set in [
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED".to_owned(),
            format!("SET SESSION innodb_lock_wait_timeout = {secs}"),
        ] {
            sqlx::Executor::execute(&mut *conn, set.as_str()).await?;
        }
        Ok(())
    }

    async fn begin<'c>(
        conn: &'c mut MySqlConnection,
        _opts: &BackfillOptions,
    ) -> Result<Transaction<'c, MySql>, DbError> {
        Ok(conn.begin().await?)
    }

    fn affected(result: &sqlx::mysql::MySqlQueryResult) -> u64 {
        result.rows_affected()
    }

    fn lock_timeout(e: &sqlx::Error) -> bool {
        class_of(e) == Class::Retry
    }

    /// Transactions waiting for a row lock (whoever holds it: MySQL 8 and
    /// MariaDB name the holders in different tables).
    async fn waiters(conn: &mut MySqlConnection) -> Result<u64, DbError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'",
        )
        .fetch_one(conn)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// `table_rows`: InnoDB's sampled estimate.
    async fn estimate(conn: &mut MySqlConnection, table: &str) -> Result<Option<u64>, DbError> {
        let n: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT CAST(table_rows AS SIGNED) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = ?",
        )
        .bind(table)
        .fetch_optional(conn)
        .await?;
        Ok(n.flatten().and_then(|n| u64::try_from(n).ok()))
    }
}
