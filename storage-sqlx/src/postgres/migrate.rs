//! The PostgreSQL migration runner (see `crate::migrate` for why it is
//! ours, and `MIGRATIONS.md` for the rules).

use latchkey::storage::StorageResult;
use sqlx::postgres::PgPool;
use sqlx::{Connection, Row};

use crate::error::{backoff, class_of, into_storage, Class, DbError};
use crate::migrate::{edited, plan, postgres_migrations, MigrateOptions, MigrateReport, Migration};

/// Advisory lock key shared by every instance: "latchkey" in ASCII.
const LOCK_KEY: i64 = 0x6c61_7463_686b_6579;

pub(super) async fn run(pool: &PgPool, opts: &MigrateOptions) -> StorageResult<MigrateReport> {
    let all = plan(postgres_migrations(), opts)?;
    let mut conn = pool.acquire().await.map_err(|e| into_storage(e.into()))?;
    // Session-level lock on a dedicated connection: other instances wait
    // here; if this process dies the server releases it with the session.
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *conn)
        .await
        .map_err(|e| into_storage(e.into()))?;
    let result = apply(&mut conn, &all, opts).await;
    let unlock = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *conn)
        .await;
    if unlock.is_err() {
        // Do not hand a connection that may still hold the lock back.
        conn.close_on_drop();
    }
    result.map_err(into_storage)
}

async fn apply(
    conn: &mut sqlx::PgConnection,
    all: &[Migration],
    opts: &MigrateOptions,
) -> Result<MigrateReport, DbError> {
    sqlx::Executor::execute(
        &mut *conn,
        "CREATE TABLE IF NOT EXISTS lk_schema_migrations (\
           version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum BYTEA NOT NULL, \
           applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .await?;
    let applied: Vec<(i64, Vec<u8>)> =
        sqlx::query("SELECT version, checksum FROM lk_schema_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("version")?, r.try_get("checksum")?)))
            .collect::<Result<_, sqlx::Error>>()?;
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
            match apply_one(conn, m, opts).await {
                Ok(()) => break,
                // Gave up waiting for a lock (lock_timeout): let the queue
                // behind us drain, then try again.
                Err(DbError::Sql(e)) if class_of(&e) == Class::Retry && attempt < opts.attempts => {
                    report.lock_retries += 1;
                    backoff(attempt.min(5)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
        report.applied.push(m.version);
    }
    Ok(report)
}

fn lock_timeout_ms(opts: &MigrateOptions) -> u128 {
    opts.lock_timeout.as_millis().max(1)
}

async fn apply_one(
    conn: &mut sqlx::PgConnection,
    m: &Migration,
    opts: &MigrateOptions,
) -> Result<(), DbError> {
    let record = "INSERT INTO lk_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)";
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
            sqlx::query(record)
                .bind(m.version)
                .bind(&m.name)
                .bind(m.checksum())
                .execute(&mut *conn)
                .await?;
            Ok::<_, DbError>(())
        };
        let result = run.await;
        sqlx::Executor::execute(&mut *conn, "RESET lock_timeout").await?;
        result
    } else {
        let mut tx = conn.begin().await?;
        sqlx::Executor::execute(
            &mut *tx,
            format!("SET LOCAL lock_timeout = '{}ms'", lock_timeout_ms(opts)).as_str(),
        )
        .await?;
        sqlx::Executor::execute(&mut *tx, m.sql.as_str()).await?;
        sqlx::query(record)
            .bind(m.version)
            .bind(&m.name)
            .bind(m.checksum())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
