//! Test support: server URLs, a database per case, loud skips.
#![allow(dead_code)]

pub mod backfill;
#[cfg(feature = "postgres")]
pub mod engine;
pub mod fixtures;
pub mod guarded;
#[cfg(feature = "postgres")]
pub mod load;
pub mod proxy;
pub mod round_trips;

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Whether this is a CI run (`CI=true`): unreachable servers fail tests.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `LATCHKEY_TEST_POSTGRES_URL`, or the local default.
pub fn pg_url() -> String {
    std::env::var("LATCHKEY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `LATCHKEY_TEST_MYSQL_URL`, or the local default.
pub fn mysql_url() -> String {
    std::env::var("LATCHKEY_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

/// A server is unreachable: fail in CI; elsewhere skip this whole test
/// binary, loudly (written to the real stderr, past the test harness's
/// output capture).
pub fn unreachable(what: &str, err: &dyn std::fmt::Display) -> ! {
    if ci() {
        panic!("{what} is unreachable in CI (CI=true), failing instead of skipping: {err}");
    }
    let banner = format!(
        "\n\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !!! SKIPPING every test of this binary: {what} is unreachable:\n\
         !!! {err}\n\
         !!! Start it with storage-sqlx/scripts/ensure-databases.sh.\n\
         !!! (With CI=true this would be a failure.)\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n"
    );
    let _ = std::io::stderr().write_all(banner.as_bytes());
    std::process::exit(0);
}

/// `base` with its database replaced by `db`.
pub fn with_db(base: &str, db: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, format!("?{q}")),
        None => (base, String::new()),
    };
    let (prefix, _) = head.rsplit_once('/').expect("URL with a database path");
    format!("{prefix}/{db}{query}")
}

/// A unique database name for one case.
pub fn unique_name() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "lk_t{}_{}_{:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// Runs `f` on a fresh thread with its own runtime: for cleanup from `Drop`
/// while the test's runtime is shutting down.
pub fn block_on_thread<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(f());
    })
    .join();
}

/// Creates an empty database on the server at `base` through an admin
/// connection of type `C` (skipping, or failing in CI, when `what` is
/// unreachable); returns its name and URL.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn create_db_on<C>(base: &str, what: &str) -> (String, String)
where
    C: latchkey_sqlx::sqlx::Connection,
    for<'c> &'c mut C: latchkey_sqlx::sqlx::Executor<'c, Database = C::Database>,
{
    use latchkey_sqlx::sqlx;
    let mut admin = match C::connect(base).await {
        Ok(c) => c,
        Err(e) => unreachable(what, &e),
    };
    let name = unique_name();
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create database");
    let _ = admin.close().await;
    let url = with_db(base, &name);
    (name, url)
}

#[cfg(feature = "postgres")]
pub mod pg {
    use std::sync::Arc;

    use latchkey_sqlx::sqlx::{self, Connection as _};
    use latchkey_sqlx::PgStore;

    use super::guarded::Guarded;

    /// Creates an empty database; returns its name and URL.
    pub async fn create_db() -> (String, String) {
        super::create_db_on::<sqlx::PgConnection>(&super::pg_url(), "PostgreSQL").await
    }

    /// Drops the named database when it goes out of scope, also when the
    /// test panics. Declare it before the stores using the database.
    pub struct DropDb(pub String);

    impl Drop for DropDb {
        fn drop(&mut self) {
            drop_db(std::mem::take(&mut self.0));
        }
    }

    /// Drops a database made by [`create_db`], disconnecting its users.
    pub fn drop_db(name: String) {
        super::block_on_thread(move || async move {
            if let Ok(mut admin) = sqlx::PgConnection::connect(&super::pg_url()).await {
                let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await;
                let _ = admin.close().await;
            }
        });
    }

    /// Polls `fut` by hand (the runtime never polls it on its own) until
    /// `probe`, a query on `observer` taking backend `pid` as `$1` and
    /// returning a bool, holds; then drops `fut` right there, as a task
    /// abort would. Returns false if `fut` finished first (for example when
    /// it got past the probed state within one poll).
    pub async fn cancel_when<F: std::future::Future>(
        fut: F,
        observer: &sqlx::PgPool,
        pid: i32,
        probe: &str,
    ) -> bool {
        use std::task::Poll;
        let mut fut = std::pin::pin!(fut);
        loop {
            let ready =
                std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_ready())).await;
            if ready {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let holds: bool = sqlx::query_scalar(probe)
                .bind(pid)
                .fetch_one(observer)
                .await
                .expect("probe");
            if holds {
                return true;
            }
        }
    }

    /// A migrated store on a fresh database, dropped with the store.
    pub async fn fresh() -> Arc<Guarded<PgStore>> {
        let (name, url) = create_db().await;
        let store = PgStore::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        Arc::new(Guarded::new(store, move || drop_db(name)))
    }
}

#[cfg(feature = "mysql")]
pub mod my {
    use std::sync::Arc;

    use latchkey_sqlx::sqlx::{self, Connection as _};
    use latchkey_sqlx::MySqlStore;

    use super::guarded::Guarded;

    /// Creates an empty database; returns its name and URL.
    pub async fn create_db() -> (String, String) {
        super::create_db_on::<sqlx::MySqlConnection>(&super::mysql_url(), "MySQL/MariaDB").await
    }

    /// Drops the named database when it goes out of scope, also when the
    /// test panics. Declare it before the stores using the database.
    pub struct DropDb(pub String);

    impl Drop for DropDb {
        fn drop(&mut self) {
            drop_db(std::mem::take(&mut self.0));
        }
    }

    /// Drops a database made by [`create_db`].
    pub fn drop_db(name: String) {
        super::block_on_thread(move || async move {
            let result = async {
                let mut admin = sqlx::MySqlConnection::connect(&super::mysql_url()).await?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name}"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            }
            .await;
            if let Err(e) = result {
                let _ = std::io::Write::write_all(
                    &mut std::io::stderr(),
                    format!("warning: could not drop test database {name}: {e}\n").as_bytes(),
                );
            }
        });
    }

    /// A migrated store on a fresh database, dropped with the store.
    pub async fn fresh() -> Arc<Guarded<MySqlStore>> {
        let (name, url) = create_db().await;
        let store = MySqlStore::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        Arc::new(Guarded::new(store, move || drop_db(name)))
    }
}

#[cfg(feature = "sqlite")]
pub mod lite {
    use std::sync::Arc;

    use latchkey_sqlx::SqliteStore;

    use super::guarded::Guarded;

    /// A migrated store on a new temporary file, removed with the store.
    pub async fn fresh() -> Arc<Guarded<SqliteStore>> {
        let path = std::env::temp_dir().join(format!("{}.sqlite", super::unique_name()));
        let store = SqliteStore::open(&path).await.expect("open");
        store.migrate().await.expect("migrate");
        Arc::new(Guarded::new(store, move || {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }))
    }
}

/// `host:port` of a database URL (`scheme://user@host:port/db`).
pub fn host_port(url: &str) -> std::net::SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let hp = rest.split(['/', '?']).next().unwrap_or(rest);
    let hp = if hp.contains(':') {
        hp.to_owned()
    } else {
        format!("{hp}:5432")
    };
    let hp = hp.replace("localhost", "127.0.0.1");
    hp.parse().unwrap_or_else(|e| panic!("{hp}: {e}"))
}

/// `url` pointed at `addr` instead of its own host and port.
pub fn via(url: &str, addr: std::net::SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("scheme");
    let (user, rest) = match rest.rsplit_once('@') {
        Some((u, r)) => (format!("{u}@"), r),
        None => (String::new(), rest),
    };
    let tail = rest.find(['/', '?']).map_or("", |i| &rest[i..]);
    format!("{scheme}://{user}{addr}{tail}")
}
