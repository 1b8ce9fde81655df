//! Outage and recovery through a TCP proxy the test controls, and the round
//! trips each hot operation costs (counted by the same proxy).
#![cfg(feature = "postgres")]

mod common;

use std::time::{Duration, Instant};

use common::fixtures::{client, family_revoked, issued_family, revocation, rotation};
use common::proxy::Proxy;
use latchkey::storage::{ClientStore, EventStore, RotateOutcome, StorageError, TokenStore};
use latchkey_sqlx::PgStore;

fn assert_unavailable<T: std::fmt::Debug>(
    what: &str,
    r: Result<T, StorageError>,
    started: Instant,
) {
    match r {
        Err(StorageError::Unavailable(e)) => {
            println!(
                "  during the cut, {what}: Unavailable after {:.2?} ({e})",
                started.elapsed()
            );
        }
        other => panic!("{what} during the cut: expected Unavailable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outage_reports_unavailable_and_recovers_without_a_new_store() {
    let (name, url) = common::pg::create_db().await;
    let _db = common::pg::DropDb(name.clone());
    PgStore::connect(&url)
        .await
        .expect("connect")
        .migrate()
        .await
        .expect("migrate");
    let proxy = Proxy::start(common::host_port(&url)).await;
    let opts = common::via(&url, proxy.addr()).parse().expect("options");
    let pool = PgStore::pool_options().acquire_timeout(Duration::from_secs(1));
    let store = PgStore::connect_with(pool, opts)
        .await
        .expect("connect via proxy");

    let (_, iss) = issued_family(&store, "alice").await;
    assert!(store
        .find_access_token(&iss.access.hash)
        .await
        .expect("find")
        .is_some());

    proxy.cut();
    let t = Instant::now();
    assert_unavailable(
        "find_access_token",
        store.find_access_token(&iss.access.hash).await,
        t,
    );
    let t = Instant::now();
    let r = rotation(&iss.family, iss.family.current.hash, 1);
    assert_unavailable(
        "rotate_family",
        store.rotate_family(&iss.family.id, 0, &r).await,
        t,
    );
    let t = Instant::now();
    assert_unavailable("poll_events", store.poll_events("c", 10).await, t);
    let t = Instant::now();
    assert_unavailable(
        "insert_client",
        store.insert_client(&client("acme"), &[]).await,
        t,
    );

    proxy.restore();
    // The same store, no rebuild: every call works again at once.
    let t = Instant::now();
    assert!(store
        .find_access_token(&iss.access.hash)
        .await
        .expect("find after restore")
        .is_some());
    println!(
        "  first call after restore succeeded in {:.2?}",
        t.elapsed()
    );
    assert_eq!(
        store
            .rotate_family(&iss.family.id, 0, &r)
            .await
            .expect("rotate after restore"),
        RotateOutcome::Rotated,
        "the rotation attempted during the cut never happened"
    );
    assert!(store
        .revoke_family(&iss.family.id, revocation(), &[family_revoked(&iss.family)])
        .await
        .expect("revoke after restore"));
    assert!(!store
        .poll_events("c", 10)
        .await
        .expect("poll after restore")
        .is_empty());

    // A second cut and restore, with calls in flight across it.
    proxy.cut();
    let s2 = store.clone();
    let h = iss.access.hash;
    let inflight = tokio::spawn(async move { s2.find_access_token(&h).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.restore();
    match inflight.await.expect("join") {
        Ok(_) | Err(StorageError::Unavailable(_)) => {}
        Err(other) => panic!("in-flight call across a cut: {other:?}"),
    }
    assert!(store
        .find_access_token(&iss.access.hash)
        .await
        .expect("find")
        .is_some());

    drop(store);
    drop(proxy);
}

/// Counts the round trips of the hot operations, with statements already
/// prepared (sqlx caches them per connection), on the default pool or with
/// `test_before_acquire` on (the former default), which adds a liveness
/// ping on the caller's path; sqlx 0.8 always pings a connection again when
/// it is returned, in the background.
async fn round_trips_pg(check_on_acquire: bool) -> Vec<(&'static str, u64, u64)> {
    let (name, url) = common::pg::create_db().await;
    let _db = common::pg::DropDb(name.clone());
    PgStore::connect(&url)
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
    let pool = PgStore::pool_options()
        .max_connections(1)
        .min_connections(1)
        .before_acquire(|_, _| Box::pin(async { Ok(true) }))
        .test_before_acquire(check_on_acquire);
    let store = PgStore::connect_with(pool, opts).await.expect("connect");
    let out = common::round_trips::hot_operations(&store, &proxy).await;
    drop(store);
    drop(proxy);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_per_hot_operation() {
    let default = round_trips_pg(false).await;
    let checked = round_trips_pg(true).await;
    for (op, statements, total, total_checked) in
        common::round_trips::table("PostgreSQL", &default, &checked)
    {
        if [
            "redeem_code (Issued)",
            "find_access_token",
            "find_refresh_token",
            "rotate_family (Rotated)",
        ]
        .contains(&op)
        {
            assert_eq!(
                statements, 1,
                "{op} must be one statement round trip on PostgreSQL"
            );
            assert_eq!(
                total,
                statements + 1,
                "{op}: the default pool adds only sqlx's release ping"
            );
            assert_eq!(
                total_checked,
                total + 1,
                "{op}: test_before_acquire adds one acquire check"
            );
        }
    }
}
