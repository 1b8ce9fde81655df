//! Browser sessions shared by two instances on one PostgreSQL database:
//! two `PgStore`s with separate pools, each under its own `Sessions`, as
//! two engines behind a load balancer would run.
#![cfg(feature = "postgres")]

mod common;

use std::sync::Arc;

use latchkey::web::{SessionConfig, Sessions, StorageSessionStore};
use latchkey_sqlx::PgStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_share_sessions() {
    let (name, url) = common::pg::create_db().await;
    let _db = common::pg::DropDb(name);
    let a = PgStore::connect(&url).await.expect("connect a");
    a.migrate().await.expect("migrate");
    let b = PgStore::connect(&url).await.expect("connect b");
    let config = SessionConfig::for_issuer("https://auth.example");
    // The instances share the server keys, which sign pre-sessions.
    let keys = Arc::new(latchkey::Keyring::new(&[(1, [3u8; 32])]).unwrap());
    let on_a = Sessions::new(
        Arc::new(StorageSessionStore::new(Arc::new(a.clone()))),
        config.clone(),
    )
    .with_keys(keys.clone());
    let on_b = Sessions::new(
        Arc::new(StorageSessionStore::new(Arc::new(b.clone()))),
        config,
    )
    .with_keys(keys);
    // Create on a, sign in on b (same binding and CSRF token seen by
    // both), flash across, sign out on a and b sees it.
    latchkey::conformance::shared_sessions_check(&on_a, &on_b).await;
    // And the other way round.
    latchkey::conformance::shared_sessions_check(&on_b, &on_a).await;
    a.pool().close().await;
    b.pool().close().await;
}
