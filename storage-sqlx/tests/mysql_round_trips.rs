//! Round trips of the hot operations on MySQL/MariaDB, counted by a TCP
//! proxy in front of the server. No CTEs that write, no `RETURNING`: the
//! writes are short transactions, so they cost more than on PostgreSQL.
#![cfg(feature = "mysql")]

mod common;

use std::time::Duration;

use common::fixtures::{
    approved_code, family_revoked, issuance, issued_family, revocation, rotation, T0,
};
use common::proxy::Proxy;
use latchkey::storage::{CodeStore, EventStore, RedeemOutcome, RotateOutcome, TokenStore};
use latchkey_sqlx::MySqlStore;

/// Round trips of one call, counted once the pool's background release
/// check has run too. (Where exactly that check lands relative to the
/// call's return is timing-dependent, so only the total is stable.)
async fn measure<F, Fut, T>(proxy: &Proxy, f: F) -> (u64, u64)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = proxy.round_trips();
    f().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    (0, proxy.round_trips() - t0)
}

/// Counts the round trips of the hot operations, with statements already
/// prepared (sqlx caches them per connection). With `test_before_acquire`
/// the pool adds a liveness ping on the caller's path; sqlx 0.8 always
/// pings a connection again when it is returned, in the background.
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
    let pool = MySqlStore::pool_options()
        .max_connections(1)
        .min_connections(1)
        .test_before_acquire(check_on_acquire);
    let store = MySqlStore::connect_with(pool, opts).await.expect("connect");
    let mut out = Vec::new();
    // Warm up every statement once.
    let (_, iss) = issued_family(&store, "warm").await;
    let _ = store.find_access_token(&iss.access.hash).await;
    let _ = store.find_refresh_token(&iss.family.current.hash).await;
    let _ = store
        .rotate_family(
            &iss.family.id,
            0,
            &rotation(&iss.family, iss.family.current.hash, 0),
        )
        .await;
    let _ = store
        .rotate_family(
            &iss.family.id,
            0,
            &rotation(&iss.family, iss.family.current.hash, 0),
        )
        .await;
    let _ = store
        .revoke_family(&iss.family.id, revocation(), &[family_revoked(&iss.family)])
        .await;
    let _ = store.poll_events("warm", 10).await;

    let (_, code) = approved_code(&store, "bob").await;
    let iss = issuance(&code);
    let (a, b) = measure(&proxy, || async {
        assert_eq!(
            store
                .redeem_code(&code.hash, T0, &iss)
                .await
                .expect("redeem"),
            RedeemOutcome::Issued
        );
    })
    .await;
    out.push(("redeem_code (Issued)", a, b));
    let (a, b) = measure(&proxy, || async {
        assert!(store
            .find_access_token(&iss.access.hash)
            .await
            .expect("find")
            .is_some());
    })
    .await;
    out.push(("find_access_token", a, b));
    let (a, b) = measure(&proxy, || async {
        assert!(store
            .find_refresh_token(&iss.family.current.hash)
            .await
            .expect("find")
            .is_some());
    })
    .await;
    out.push(("find_refresh_token", a, b));
    let r = rotation(&iss.family, iss.family.current.hash, 1);
    let (a, b) = measure(&proxy, || async {
        assert_eq!(
            store
                .rotate_family(&iss.family.id, 0, &r)
                .await
                .expect("rotate"),
            RotateOutcome::Rotated
        );
    })
    .await;
    out.push(("rotate_family (Rotated)", a, b));
    let (a, b) = measure(&proxy, || async {
        assert_eq!(
            store
                .rotate_family(&iss.family.id, 0, &r)
                .await
                .expect("rotate"),
            RotateOutcome::Stale
        );
    })
    .await;
    out.push(("rotate_family (Stale)", a, b));
    let (a, b) = measure(&proxy, || async {
        assert!(store
            .revoke_family(&iss.family.id, revocation(), &[family_revoked(&iss.family)])
            .await
            .expect("revoke"));
    })
    .await;
    out.push(("revoke_family (+1 event)", a, b));
    let (a, b) = measure(&proxy, || async {
        let _ = store.poll_events("c", 10).await.expect("poll");
    })
    .await;
    out.push(("poll_events", a, b));
    drop(store);
    drop(proxy);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_per_hot_operation() {
    let lean = round_trips_mysql(false).await;
    let default = round_trips_mysql(true).await;
    println!("MySQL/MariaDB round trips per call (statements = total minus the pool's own pings):");
    println!(
        "  {:<28} {:>10} {:>11} {:>24} {:>30}",
        "operation",
        "checkouts",
        "statements",
        "total, no acquire check",
        "total, default (check+release)"
    );
    for ((op, _, total), (_, _, total_default)) in lean.iter().zip(&default) {
        // Each call checks one connection out of the pool, which sqlx 0.8
        // pings again when it is returned.
        let checkouts = 1;
        let statements = total - checkouts;
        println!("  {op:<28} {checkouts:>10} {statements:>11} {total:>24} {total_default:>30}");
        if ["find_access_token", "find_refresh_token"].contains(op) {
            assert_eq!(statements, 1, "{op} must be one round trip");
        }
    }
}
