//! The MySQL/MariaDB migration runner. DDL commits implicitly there, so
//! statements run one by one and the version is recorded after the last;
//! files are written to be repeatable (see MIGRATIONS.md).

use latchkey::storage::StorageResult;
use sqlx::mysql::MySqlPool;
use sqlx::Row;

use crate::error::{backoff, class_of, into_storage, Class, DbError};
use crate::migrate::{edited, mysql_migrations, plan, MigrateOptions, MigrateReport, Migration};

const LOCK_NAME: &str = "latchkey_migrate";

pub(super) async fn run(pool: &MySqlPool, opts: &MigrateOptions) -> StorageResult<MigrateReport> {
    let all = plan(mysql_migrations(), opts)?;
    let mut conn = pool.acquire().await.map_err(|e| into_storage(e.into()))?;
    // Named lock, scoped to the database, held by this session only.
    let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(CONCAT(DATABASE(), '.', ?), 300)")
        .bind(LOCK_NAME)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| into_storage(e.into()))?;
    if got != Some(1) {
        return Err(latchkey::storage::StorageError::Unavailable(
            "another instance kept the migration lock".into(),
        ));
    }
    let result = apply(&mut conn, &all, opts).await;
    let released = sqlx::query("SELECT RELEASE_LOCK(CONCAT(DATABASE(), '.', ?))")
        .bind(LOCK_NAME)
        .execute(&mut *conn)
        .await;
    if released.is_err() {
        conn.close_on_drop();
    }
    result.map_err(into_storage)
}

async fn apply(
    conn: &mut sqlx::MySqlConnection,
    all: &[Migration],
    opts: &MigrateOptions,
) -> Result<MigrateReport, DbError> {
    sqlx::Executor::execute(
        &mut *conn,
        "CREATE TABLE IF NOT EXISTS lk_schema_migrations (\
           version BIGINT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, \
           checksum VARBINARY(32) NOT NULL, \
           applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB",
    )
    .await?;
    let applied: Vec<(i64, Vec<u8>)> =
        sqlx::query("SELECT version, checksum FROM lk_schema_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("version")?, r.try_get("checksum")?)))
            .collect::<Result<_, sqlx::Error>>()?;
    // Metadata-lock wait, in whole seconds (MySQL's unit).
    let secs = opts.lock_timeout.as_secs().max(1);
    sqlx::Executor::execute(
        &mut *conn,
        format!("SET SESSION lock_wait_timeout = {secs}").as_str(),
    )
    .await?;
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
            match apply_one(conn, m).await {
                Ok(()) => break,
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

async fn apply_one(conn: &mut sqlx::MySqlConnection, m: &Migration) -> Result<(), DbError> {
    for stmt in m.statements() {
        sqlx::Executor::execute(&mut *conn, stmt.as_str()).await?;
    }
    sqlx::query("INSERT INTO lk_schema_migrations (version, name, checksum) VALUES (?, ?, ?)")
        .bind(m.version)
        .bind(&m.name)
        .bind(m.checksum())
        .execute(&mut *conn)
        .await?;
    Ok(())
}
