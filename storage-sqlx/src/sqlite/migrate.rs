//! The SQLite migration runner: each migration in one `BEGIN IMMEDIATE`
//! transaction, which also excludes concurrent runners.

use latchkey::storage::StorageResult;
use sqlx::sqlite::SqlitePool;
use sqlx::Row;

use crate::error::{into_storage, DbError};
use crate::migrate::{edited, plan, sqlite_migrations, MigrateOptions, MigrateReport};

pub(super) async fn run(pool: &SqlitePool, opts: &MigrateOptions) -> StorageResult<MigrateReport> {
    apply(pool, opts).await.map_err(into_storage)
}

async fn apply(pool: &SqlitePool, opts: &MigrateOptions) -> Result<MigrateReport, DbError> {
    let all = plan(sqlite_migrations(), opts)?;
    sqlx::Executor::execute(
        pool,
        "CREATE TABLE IF NOT EXISTS lk_schema_migrations (\
           version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum BLOB NOT NULL, \
           applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    )
    .await?;
    let mut report = MigrateReport::default();
    for m in &all {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let sum: Option<Vec<u8>> =
            sqlx::query("SELECT checksum FROM lk_schema_migrations WHERE version = ?")
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get("checksum"))
                .transpose()?;
        match sum {
            Some(s) if s == m.checksum() => continue,
            Some(_) => return Err(edited(m).into()),
            None => {}
        }
        sqlx::Executor::execute(&mut *tx, m.sql.as_str()).await?;
        sqlx::query("INSERT INTO lk_schema_migrations (version, name, checksum) VALUES (?, ?, ?)")
            .bind(m.version)
            .bind(&m.name)
            .bind(m.checksum())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        report.applied.push(m.version);
    }
    Ok(report)
}
