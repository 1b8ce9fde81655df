//! The PostgreSQL hooks of the migration runner (see `crate::migrate` for
//! why it is ours, and `MIGRATIONS.md` for the rules).

use sqlx::postgres::PgConnection;
use sqlx::{Connection as _, Postgres};

use crate::error::DbError;
use crate::migrate::runner::MigrateDialect;
use crate::migrate::{postgres_migrations, MigrateOptions, Migration};

/// Advisory lock key shared by every instance: "latchkey" in ASCII.
const LOCK_KEY: i64 = 0x6c61_7463_686b_6579;

fn lock_timeout_ms(opts: &MigrateOptions) -> u128 {
    opts.lock_timeout.as_millis().max(1)
}

async fn record(conn: &mut PgConnection, m: &Migration) -> Result<(), DbError> {
    sqlx::query("INSERT INTO lk_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)")
        .bind(m.version)
        .bind(&m.name)
        .bind(m.checksum())
        .execute(conn)
        .await?;
    Ok(())
}

impl MigrateDialect for Postgres {
    const SCHEMA_TABLE: &'static str = "CREATE TABLE IF NOT EXISTS lk_schema_migrations (\
           version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum BYTEA NOT NULL, \
           applied_at TIMESTAMPTZ NOT NULL DEFAULT now())";

    fn migrations() -> Vec<Migration> {
        postgres_migrations()
    }

    /// A session-level advisory lock: other instances wait here.
    async fn lock(conn: &mut PgConnection) -> Result<(), DbError> {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(LOCK_KEY)
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn unlock(conn: &mut PgConnection) -> Result<(), DbError> {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(LOCK_KEY)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Every change runs under a short `lock_timeout`: one stuck behind a
    /// long transaction gives up (and is retried) instead of queueing the
    /// hot path behind its lock request.
    async fn apply(
        conn: &mut PgConnection,
        m: &Migration,
        opts: &MigrateOptions,
    ) -> Result<bool, DbError> {
        if m.no_transaction() {
            // CONCURRENTLY cannot run in a transaction block, nor in a
            // multi-statement simple query (an implicit transaction): one
            // statement at a time. Files of this kind are idempotent (see
            // MIGRATIONS.md), so a retry after a partial run is safe.
            sqlx::Executor::execute(
                &mut *conn,
                format!("SET lock_timeout = '{}ms'", lock_timeout_ms(opts)).as_str(),
            )
            .await?;
            let run = async {
                for stmt in m.statements() {
                    sqlx::Executor::execute(&mut *conn, stmt.as_str()).await?;
                }
                record(conn, m).await
            };
            let result = run.await;
            sqlx::Executor::execute(&mut *conn, "RESET lock_timeout").await?;
            result?;
        } else {
            let mut tx = conn.begin().await?;
            sqlx::Executor::execute(
                &mut *tx,
                format!("SET LOCAL lock_timeout = '{}ms'", lock_timeout_ms(opts)).as_str(),
            )
            .await?;
            sqlx::Executor::execute(&mut *tx, m.sql.as_str()).await?;
            record(&mut tx, m).await?;
            tx.commit().await?;
        }
        Ok(true)
    }
}
