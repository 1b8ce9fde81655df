//! The hot operations whose round trips `pg_recovery.rs` and
//! `mysql_round_trips.rs` count, run the same way on either server.

use std::time::Duration;

use latchkey::storage::{RedeemOutcome, RotateOutcome, Storage};

use super::fixtures::{
    approved_code, family_revoked, issuance, issued_family, revocation, rotation, T0,
};
use super::proxy::Proxy;

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

/// Warms every statement up once, then measures each hot operation on
/// `store`, whose only connection runs through `proxy`: `(operation, 0,
/// total round trips)` per call.
pub async fn hot_operations<S: Storage + ?Sized>(
    store: &S,
    proxy: &Proxy,
) -> Vec<(&'static str, u64, u64)> {
    let mut out = Vec::new();
    // Warm up every statement once.
    let (_, iss) = issued_family(store, "warm").await;
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

    let (_, code) = approved_code(store, "bob").await;
    let iss = issuance(&code);
    let (a, b) = measure(proxy, || async {
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
    let (a, b) = measure(proxy, || async {
        assert!(store
            .find_access_token(&iss.access.hash)
            .await
            .expect("find")
            .is_some());
    })
    .await;
    out.push(("find_access_token", a, b));
    let (a, b) = measure(proxy, || async {
        assert!(store
            .find_refresh_token(&iss.family.current.hash)
            .await
            .expect("find")
            .is_some());
    })
    .await;
    out.push(("find_refresh_token", a, b));
    let r = rotation(&iss.family, iss.family.current.hash, 1);
    let (a, b) = measure(proxy, || async {
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
    let (a, b) = measure(proxy, || async {
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
    let (a, b) = measure(proxy, || async {
        assert!(store
            .revoke_family(&iss.family.id, revocation(), &[family_revoked(&iss.family)])
            .await
            .expect("revoke"));
    })
    .await;
    out.push(("revoke_family (+1 event)", a, b));
    let (a, b) = measure(proxy, || async {
        let _ = store.poll_events("c", 10).await.expect("poll");
    })
    .await;
    out.push(("poll_events", a, b));
    out
}

/// Prints the counts of [`hot_operations`] run on the default pool
/// (`lean`: no acquire check for a connection that was just in use) and
/// with `test_before_acquire` on (`default`, the former default), titled
/// `dialect`; returns per operation `(operation, statements, total, total
/// with the check)`.
pub fn table(
    dialect: &str,
    lean: &[(&'static str, u64, u64)],
    default: &[(&'static str, u64, u64)],
) -> Vec<(&'static str, u64, u64, u64)> {
    println!("{dialect} round trips per call (statements = total minus the pool's own pings):");
    println!(
        "  {:<28} {:>10} {:>11} {:>24} {:>30}",
        "operation",
        "checkouts",
        "statements",
        "total, default pool",
        "total, acquire check (+release)"
    );
    let mut rows = Vec::new();
    for ((op, _, total), (_, _, total_default)) in lean.iter().zip(default) {
        // Each call checks one connection out of the pool, which sqlx 0.8
        // pings again when it is returned.
        let checkouts = 1;
        let statements = total - checkouts;
        println!("  {op:<28} {checkouts:>10} {statements:>11} {total:>24} {total_default:>30}");
        rows.push((*op, statements, *total, *total_default));
    }
    rows
}
