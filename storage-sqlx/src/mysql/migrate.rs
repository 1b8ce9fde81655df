//! The MySQL/MariaDB hooks of the migration runner. DDL commits implicitly
//! there, so statements run one by one and the version is recorded after
//! the last; files are written to be repeatable (see MIGRATIONS.md).

use sqlx::mysql::MySqlConnection;
use sqlx::MySql;

use crate::error::DbError;
use crate::migrate::runner::MigrateDialect;
use crate::migrate::{mysql_migrations, MigrateOptions, Migration};

const LOCK_NAME: &str = "latchkey_migrate";

impl MigrateDialect for MySql {
    const SCHEMA_TABLE: &'static str = "CREATE TABLE IF NOT EXISTS lk_schema_migrations (\
           version BIGINT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, \
           checksum VARBINARY(32) NOT NULL, \
           applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB";

    fn migrations() -> Vec<Migration> {
        mysql_migrations()
    }

    /// A named lock, scoped to the database, held by this session only.
    async fn lock(conn: &mut MySqlConnection) -> Result<(), DbError> {
        let got: Option<i64> =
            sqlx::query_scalar("SELECT GET_LOCK(CONCAT(DATABASE(), '.', ?), 300)")
                .bind(LOCK_NAME)
                .fetch_one(conn)
                .await?;
        if got != Some(1) {
            return Err(latchkey::storage::StorageError::Unavailable(
                "another instance kept the migration lock".into(),
            )
            .into());
        }
        Ok(())
    }

    async fn unlock(conn: &mut MySqlConnection) -> Result<(), DbError> {
        sqlx::query("SELECT RELEASE_LOCK(CONCAT(DATABASE(), '.', ?))")
            .bind(LOCK_NAME)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The metadata-lock wait, in whole seconds (MySQL's unit).
    async fn prepare(conn: &mut MySqlConnection, opts: &MigrateOptions) -> Result<(), DbError> {
        let secs = opts.lock_timeout.as_secs().max(1);
        sqlx::Executor::execute(
            conn,
            format!("SET SESSION lock_wait_timeout = {secs}").as_str(),
        )
        .await?;
        Ok(())
    }

    async fn apply(
        conn: &mut MySqlConnection,
        m: &Migration,
        _opts: &MigrateOptions,
    ) -> Result<bool, DbError> {
        for stmt in m.statements() {
            sqlx::Executor::execute(&mut *conn, stmt.as_str()).await?;
        }
        sqlx::query("INSERT INTO lk_schema_migrations (version, name, checksum) VALUES (?, ?, ?)")
            .bind(m.version)
            .bind(&m.name)
            .bind(m.checksum())
            .execute(&mut *conn)
            .await?;
        Ok(true)
    }
}
