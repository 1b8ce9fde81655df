//! The storage backends, opened as a deployment opens them: redb and
//! SQLite on a file (durable commits), PostgreSQL and MySQL/MariaDB on the
//! servers at 127.0.0.1 in a database made for the run and dropped after.

use std::path::PathBuf;
use std::sync::Arc;

use latchkey::storage::Storage;
use latchkey_sqlx::sqlx::{self, Connection as _};

use crate::BenchError;

/// One backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `MemoryStore`.
    Memory,
    /// `RedbStore` on a file.
    Redb,
    /// `SqliteStore` on a file (WAL, synchronous FULL).
    Sqlite,
    /// `PgStore` (`LATCHKEY_BENCH_POSTGRES_URL`, default
    /// `postgres://postgres@127.0.0.1:5432/postgres`).
    Postgres,
    /// `MySqlStore` (`LATCHKEY_BENCH_MYSQL_URL`, default
    /// `mysql://root@127.0.0.1:3306/mysql`).
    Mysql,
}

impl Backend {
    /// Every backend.
    pub const ALL: [Backend; 5] = [
        Backend::Memory,
        Backend::Redb,
        Backend::Sqlite,
        Backend::Postgres,
        Backend::Mysql,
    ];

    /// Its name in benchmark ids and `LATCHKEY_BENCH_BACKENDS`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Redb => "redb",
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
        }
    }

    /// The backends `LATCHKEY_BENCH_BACKENDS` (comma-separated names)
    /// selects; all of them when unset.
    #[must_use]
    pub fn selected() -> Vec<Backend> {
        match std::env::var("LATCHKEY_BENCH_BACKENDS") {
            Ok(v) if !v.trim().is_empty() => Backend::ALL
                .into_iter()
                .filter(|b| v.split(',').any(|n| n.trim() == b.name()))
                .collect(),
            _ => Backend::ALL.to_vec(),
        }
    }
}

/// An opened backend and what to remove when done.
pub struct Opened {
    /// The store.
    pub store: Arc<dyn Storage>,
    cleanup: Cleanup,
}

enum Cleanup {
    None,
    Dir(PathBuf),
    Postgres { admin: String, db: String },
    Mysql { admin: String, db: String },
}

/// The PostgreSQL server's URL (a database to connect to for admin work).
#[must_use]
pub fn pg_admin_url() -> String {
    std::env::var("LATCHKEY_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The MySQL/MariaDB server's URL (a database to connect to for admin work).
#[must_use]
pub fn mysql_admin_url() -> String {
    std::env::var("LATCHKEY_BENCH_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into())
}

/// `base` with its database replaced by `db`.
#[must_use]
pub fn with_db(base: &str, db: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, format!("?{q}")),
        None => (base, String::new()),
    };
    let prefix = head.rsplit_once('/').map_or(head, |(p, _)| p);
    format!("{prefix}/{db}{query}")
}

/// A fresh name for a file or database of this run.
#[must_use]
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh directory under `LATCHKEY_BENCH_DIR` (default: the system
/// temporary directory). Benchmarks of durable stores must run on the disk
/// a deployment would use, so this says where that is.
///
/// # Errors
/// When it cannot be created.
pub fn scratch_dir(prefix: &str) -> Result<PathBuf, BenchError> {
    let base =
        std::env::var_os("LATCHKEY_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = base.join(unique(prefix));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Makes database `db` on the PostgreSQL server.
///
/// # Errors
/// When the server is unreachable or refuses.
pub async fn create_pg_db(db: &str) -> Result<String, BenchError> {
    let admin = pg_admin_url();
    let mut c = sqlx::PgConnection::connect(&admin).await?;
    sqlx::raw_sql(&format!("CREATE DATABASE {db}"))
        .execute(&mut c)
        .await?;
    Ok(with_db(&admin, db))
}

/// Makes database `db` on the MySQL server.
///
/// # Errors
/// When the server is unreachable or refuses.
pub async fn create_mysql_db(db: &str) -> Result<String, BenchError> {
    let admin = mysql_admin_url();
    let mut c = sqlx::MySqlConnection::connect(&admin).await?;
    sqlx::raw_sql(&format!("CREATE DATABASE {db}"))
        .execute(&mut c)
        .await?;
    Ok(with_db(&admin, db))
}

impl Opened {
    /// Opens `backend` fresh and migrated.
    ///
    /// # Errors
    /// When it cannot be opened (a server unreachable, a disk full).
    pub async fn open(backend: Backend) -> Result<Opened, BenchError> {
        Ok(match backend {
            Backend::Memory => Opened {
                store: Arc::new(latchkey::MemoryStore::new()),
                cleanup: Cleanup::None,
            },
            Backend::Redb => {
                let dir = scratch_dir("lk_bench_redb")?;
                let store = latchkey_redb::RedbStore::open(dir.join("latchkey.redb"))?;
                Opened {
                    store: Arc::new(store),
                    cleanup: Cleanup::Dir(dir),
                }
            }
            Backend::Sqlite => {
                let dir = scratch_dir("lk_bench_sqlite")?;
                let store = latchkey_sqlx::SqliteStore::open(dir.join("latchkey.sqlite")).await?;
                store.migrate().await?;
                Opened {
                    store: Arc::new(store),
                    cleanup: Cleanup::Dir(dir),
                }
            }
            Backend::Postgres => {
                let db = unique("lk_bench");
                let url = create_pg_db(&db).await?;
                let store = latchkey_sqlx::PgStore::connect(&url).await?;
                store.migrate().await?;
                Opened {
                    store: Arc::new(store),
                    cleanup: Cleanup::Postgres {
                        admin: pg_admin_url(),
                        db,
                    },
                }
            }
            Backend::Mysql => {
                let db = unique("lk_bench");
                let url = create_mysql_db(&db).await?;
                let store = latchkey_sqlx::MySqlStore::connect(&url).await?;
                store.migrate().await?;
                Opened {
                    store: Arc::new(store),
                    cleanup: Cleanup::Mysql {
                        admin: mysql_admin_url(),
                        db,
                    },
                }
            }
        })
    }

    /// Removes the files or the database (the store must be dropped
    /// everywhere else first for a file store's space to come back).
    pub async fn remove(self) {
        let Opened { store, cleanup } = self;
        drop(store);
        match cleanup {
            Cleanup::None => {}
            Cleanup::Dir(d) => {
                let _ = std::fs::remove_dir_all(d);
            }
            Cleanup::Postgres { admin, db } => {
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                        .execute(&mut c)
                        .await;
                }
            }
            Cleanup::Mysql { admin, db } => {
                if let Ok(mut c) = sqlx::MySqlConnection::connect(&admin).await {
                    let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {db}"))
                        .execute(&mut c)
                        .await;
                }
            }
        }
    }
}

/// Opens `backend`, or says why not: an unreachable server fails a CI run
/// (`CI=true`) and is skipped, loudly, elsewhere.
///
/// # Panics
/// In CI when the backend cannot be opened.
pub async fn open_or_skip(backend: Backend) -> Option<Opened> {
    match Opened::open(backend).await {
        Ok(o) => Some(o),
        Err(e) if crate::ci() => panic!("{} cannot be opened in CI: {e}", backend.name()),
        Err(e) => {
            eprintln!(
                "!!! SKIPPING the {} benchmarks: {e} (with CI=true this fails)",
                backend.name()
            );
            None
        }
    }
}
