//! Opening the storage backend: embedded redb in the data directory.

use std::path::Path;
use std::sync::Arc;

use latchkey_redb::RedbStore;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "latchkey.redb";

/// Opens (creating on first start) `<data_dir>/latchkey.redb`. The data
/// directory must exist. A second server on the same directory gets a clear
/// error instead of sharing the file.
///
/// # Errors
/// A message naming the file and what went wrong.
pub fn open_redb(data_dir: &Path) -> Result<Arc<RedbStore>, String> {
    let path = data_dir.join(DB_FILE);
    RedbStore::open(&path)
        .map(Arc::new)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Which SQL backend a `--database-url` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlKind {
    /// `postgres://` or `postgresql://`.
    Postgres,
    /// `mysql://` or `mariadb://`.
    MySql,
    /// `sqlite://PATH` or `sqlite::memory:`.
    Sqlite,
}

/// The backend of `url`, by scheme.
///
/// # Errors
/// A message for any other scheme.
pub fn sql_kind(url: &str) -> Result<SqlKind, String> {
    let scheme = url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match scheme.as_str() {
        "postgres" | "postgresql" => Ok(SqlKind::Postgres),
        "mysql" | "mariadb" => Ok(SqlKind::MySql),
        "sqlite" => Ok(SqlKind::Sqlite),
        _ => Err(format!(
            "--database-url: unsupported scheme {scheme:?}; use postgres://, mysql:// or sqlite://"
        )),
    }
}

fn failed(what: &str) -> impl Fn(latchkey::storage::StorageError) -> String + '_ {
    // The URL may carry a password: name the backend, never the URL.
    move |e| {
        format!(
            "{what}: {e}: {}",
            std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_default()
        )
    }
}

/// Connects to PostgreSQL and applies pending migrations.
///
/// # Errors
/// A message saying what failed.
pub async fn open_postgres(url: &str) -> Result<Arc<latchkey_sqlx::PgStore>, String> {
    let s = latchkey_sqlx::PgStore::connect(url)
        .await
        .map_err(failed("PostgreSQL"))?;
    s.migrate().await.map_err(failed("PostgreSQL migrations"))?;
    Ok(Arc::new(s))
}

/// Connects to MySQL/MariaDB and applies pending migrations.
///
/// # Errors
/// A message saying what failed.
pub async fn open_mysql(url: &str) -> Result<Arc<latchkey_sqlx::MySqlStore>, String> {
    let url = url.replacen("mariadb://", "mysql://", 1);
    let s = latchkey_sqlx::MySqlStore::connect(&url)
        .await
        .map_err(failed("MySQL"))?;
    s.migrate().await.map_err(failed("MySQL migrations"))?;
    Ok(Arc::new(s))
}

/// Opens (creating) an SQLite file and applies pending migrations.
///
/// # Errors
/// A message saying what failed.
pub async fn open_sqlite(url: &str) -> Result<Arc<latchkey_sqlx::SqliteStore>, String> {
    let s = match url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        Some(":memory:") => latchkey_sqlx::SqliteStore::memory().await,
        Some(path) if !path.is_empty() => latchkey_sqlx::SqliteStore::open(path).await,
        _ => return Err("--database-url: sqlite://PATH needs a path".into()),
    }
    .map_err(failed("SQLite"))?;
    s.migrate().await.map_err(failed("SQLite migrations"))?;
    Ok(Arc::new(s))
}
