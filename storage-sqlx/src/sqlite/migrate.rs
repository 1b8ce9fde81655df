//! The SQLite hooks of the migration runner: each migration in one
//! `BEGIN IMMEDIATE` transaction, which also excludes concurrent runners
//! (so there is no separate lock), and which re-checks whether another
//! runner applied the file first.

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection as _, Sqlite};

use crate::codec::Cols as _;
use crate::error::DbError;
use crate::migrate::runner::MigrateDialect;
use crate::migrate::{edited, sqlite_migrations, MigrateOptions, Migration};

impl MigrateDialect for Sqlite {
    const SCHEMA_TABLE: &'static str = "CREATE TABLE IF NOT EXISTS lk_schema_migrations (\
           version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum BLOB NOT NULL, \
           applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)";

    fn migrations() -> Vec<Migration> {
        sqlite_migrations()
    }

    async fn lock(_conn: &mut SqliteConnection) -> Result<(), DbError> {
        Ok(())
    }

    async fn unlock(_conn: &mut SqliteConnection) -> Result<(), DbError> {
        Ok(())
    }

    async fn apply(
        conn: &mut SqliteConnection,
        m: &Migration,
        _opts: &MigrateOptions,
    ) -> Result<bool, DbError> {
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let sum = sqlx::query("SELECT checksum FROM lk_schema_migrations WHERE version = ?")
            .bind(m.version)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.bytes("checksum"))
            .transpose()?;
        match sum {
            Some(s) if s == m.checksum() => {
                tx.rollback().await?;
                return Ok(false);
            }
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
        Ok(true)
    }
}
