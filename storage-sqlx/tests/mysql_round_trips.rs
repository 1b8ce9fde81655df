//! Round trips of the hot operations on MySQL/MariaDB, counted by a TCP
//! proxy in front of the server. No CTEs that write, no `RETURNING`: the
//! writes are short transactions, so they cost more than on PostgreSQL.
#![cfg(feature = "mysql")]

mod common;

use common::proxy::Proxy;
use latchkey_sqlx::MySqlStore;

/// Counts the round trips of the hot operations, with statements already
/// prepared (sqlx caches them per connection), on the default pool or with
/// `test_before_acquire` on (the former default), which adds a liveness
/// ping on the caller's path; sqlx 0.8 always pings a connection again when
/// it is returned, in the background.
async fn round_trips_mysql(check_on_acquire: bool) -> Vec<(&'static str, u64, u64)> {
    let (name, url) = common::my::create_db().await;
    let _db = common::my::DropDb(name.clone());
    MySqlStore::connect(&url)
        .await
        .expect("connect")
        .migrate()
        .await
        .expect("migrate");
    let proxy = Proxy::start(common::host_port(&url)).await;
    let opts = common::via(&url, proxy.addr()).parse().expect("options");
    // As under load, where a connection is back in use within
    // milliseconds, the default pool's check of connections idle for
    // `IDLE_CHECK` does not fire (these measurements pause between calls,
    // which would trigger it): only `test_before_acquire` is compared.
    let pool = MySqlStore::pool_options()
        .max_connections(1)
        .min_connections(1)
        .before_acquire(|_, _| Box::pin(async { Ok(true) }))
        .test_before_acquire(check_on_acquire);
    let store = MySqlStore::connect_with(pool, opts).await.expect("connect");
    let out = common::round_trips::hot_operations(&store, &proxy).await;
    drop(store);
    drop(proxy);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_per_hot_operation() {
    let lean = round_trips_mysql(false).await;
    let default = round_trips_mysql(true).await;
    for (op, statements, _, _) in common::round_trips::table("MySQL/MariaDB", &lean, &default) {
        if ["find_access_token", "find_refresh_token"].contains(&op) {
            assert_eq!(statements, 1, "{op} must be one round trip");
        }
    }
}
