//! The storage choice: embedded redb in the data directory by default, or
//! an SQL database named by `--database-url` (feature `sql`).

use std::path::Path;
use std::sync::Arc;

use latchkey::storage::Storage;
use latchkey_redb::{OpenError, RedbStore};
/// The SQL driver crate, for tests that prepare databases.
#[cfg(feature = "sql")]
pub use latchkey_sqlx::sqlx;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "latchkey.redb";

/// An opened store and a description of it for the start-up banner.
pub struct Opened {
    /// The store.
    pub store: Arc<dyn Storage>,
    /// "redb in DIR/latchkey.redb", "PostgreSQL", ….
    pub description: String,
}

/// Opens the store `database_url` names, or redb in `data_dir`.
///
/// # Errors
/// A message saying what failed and what to do.
pub async fn open(data_dir: &Path, database_url: Option<&str>) -> Result<Opened, String> {
    match database_url {
        None => Ok(Opened {
            store: open_redb(data_dir)?,
            description: format!("redb in {}", data_dir.join(DB_FILE).display()),
        }),
        Some(url) => open_sql(url).await,
    }
}

/// Opens (creating on first start) `<data_dir>/latchkey.redb`. The data
/// directory must exist. A second server on the same directory is told so,
/// rather than shown redb's lock error.
///
/// # Errors
/// A message naming the file and what went wrong.
pub fn open_redb(data_dir: &Path) -> Result<Arc<RedbStore>, String> {
    let path = data_dir.join(DB_FILE);
    RedbStore::open(&path).map(Arc::new).map_err(|e| match e {
        OpenError::AlreadyOpen => format!(
            "another Latchkey server is using {}; stop it or pass --data-dir",
            data_dir.display()
        ),
        e => format!("{}: {e}", path.display()),
    })
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

#[cfg(not(feature = "sql"))]
async fn open_sql(url: &str) -> Result<Opened, String> {
    sql_kind(url)?;
    Err(
        "--database-url: this build has no SQL support; rebuild with the `sql` feature: \
         cargo run -p latchkey-example-axum --features sql -- --database-url … \
         (or -p latchkey-example-actix)"
            .into(),
    )
}

#[cfg(feature = "sql")]
async fn open_sql(url: &str) -> Result<Opened, String> {
    use latchkey_sqlx::{MySqlStore, PgStore, SqliteStore};
    // The URL may carry a password: name the backend, never the URL.
    fn failed(what: &str) -> impl Fn(latchkey::storage::StorageError) -> String + '_ {
        move |e| {
            let cause = std::error::Error::source(&e).map(ToString::to_string);
            format!("{what}: {e}: {}", cause.unwrap_or_default())
        }
    }
    let (store, description): (Arc<dyn Storage>, &str) = match sql_kind(url)? {
        SqlKind::Postgres => {
            let s = PgStore::connect(url).await.map_err(failed("PostgreSQL"))?;
            s.migrate().await.map_err(failed("PostgreSQL migrations"))?;
            (Arc::new(s), "PostgreSQL")
        }
        SqlKind::MySql => {
            let url = url.replacen("mariadb://", "mysql://", 1);
            let s = MySqlStore::connect(&url).await.map_err(failed("MySQL"))?;
            s.migrate().await.map_err(failed("MySQL migrations"))?;
            (Arc::new(s), "MySQL/MariaDB")
        }
        SqlKind::Sqlite => {
            let s = match url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
            {
                Some(":memory:") => SqliteStore::memory().await,
                Some(path) if !path.is_empty() => SqliteStore::open(path).await,
                _ => return Err("--database-url: sqlite://PATH needs a path".into()),
            }
            .map_err(failed("SQLite"))?;
            s.migrate().await.map_err(failed("SQLite migrations"))?;
            (Arc::new(s), "SQLite")
        }
    };
    Ok(Opened {
        store,
        description: description.into(),
    })
}
