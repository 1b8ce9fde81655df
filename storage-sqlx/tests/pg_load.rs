//! A measuring tool, not a check (ignored by default): the storage calls of
//! a refresh (`get_client`, `find_refresh_token`, `rotate_family`), a
//! client_credentials grant (`get_client`, `insert_access_token`) and an
//! introspection (`get_client`, `find_access_token`) on PostgreSQL, with N
//! concurrent tasks, on the default pool and on the former default (a ping
//! before every call), alternately so both see the same machine load.
//!
//! ```text
//! cargo test -p latchkey-sqlx --all-features --test pg_load -- --ignored --nocapture
//! ```
#![cfg(feature = "postgres")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fixtures::{access, client, issued_family, rotation, T0};
use latchkey::storage::{ClientStore as _, RotateOutcome, TokenStore as _};
use latchkey_sqlx::PgStore;

#[derive(Clone, Copy, Debug)]
enum Op {
    Refresh,
    ClientCredentials,
    Introspection,
}

/// Calls per second of `op` with `tasks` tasks for `time`.
async fn rate(store: &PgStore, client_id: &str, op: Op, tasks: usize, time: Duration) -> f64 {
    let mut handles = Vec::new();
    let start = Instant::now();
    let deadline = start + time;
    for _ in 0..tasks {
        let (s, c) = (store.clone(), client_id.to_owned());
        handles.push(tokio::spawn(async move {
            let (mut family, mut current, mut token) = (None, None, None);
            match op {
                Op::Refresh => {
                    let (_, iss) = issued_family(&s, "load").await;
                    current = Some(iss.family.current.hash);
                    family = Some(iss.family);
                }
                Op::Introspection => {
                    let t = access(None, &c, T0.plus(3_600));
                    s.insert_access_token(&t).await.expect("token");
                    token = Some(t.hash);
                }
                Op::ClientCredentials => {}
            }
            let mut n = 0u64;
            while Instant::now() < deadline {
                s.get_client(&c).await.expect("client");
                match op {
                    Op::Refresh => {
                        let hash = current.expect("refresh token");
                        let (f, g) = s
                            .find_refresh_token(&hash)
                            .await
                            .expect("find")
                            .expect("live");
                        let r = rotation(family.as_ref().expect("family"), hash, 1);
                        let out = s.rotate_family(&f.id, g, &r).await.expect("rotate");
                        assert_eq!(out, RotateOutcome::Rotated);
                        current = Some(r.current.hash);
                    }
                    Op::ClientCredentials => s
                        .insert_access_token(&access(None, &c, T0.plus(3_600)))
                        .await
                        .expect("insert"),
                    Op::Introspection => {
                        let v = s
                            .find_access_token(&token.expect("token"))
                            .await
                            .expect("find");
                        assert!(v.is_some());
                    }
                }
                n += 1;
            }
            n
        }));
    }
    let mut calls = 0;
    for h in handles {
        calls += h.await.expect("task");
    }
    calls as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a load measurement; run by hand"]
async fn hot_calls_per_second_by_pool_setting() {
    const ROUNDS: usize = 3;
    const TIME: Duration = Duration::from_millis(1500);
    let (name, url) = common::pg::create_db().await;
    let _db = common::pg::DropDb(name);
    let opts = url.parse().expect("url");
    let lean = PgStore::connect_with(PgStore::pool_options().max_connections(16), opts)
        .await
        .expect("connect");
    lean.migrate().await.expect("migrate");
    let checked = PgStore::connect_with(
        PgStore::pool_options()
            .max_connections(16)
            .test_before_acquire(true),
        url.parse().expect("url"),
    )
    .await
    .expect("connect");
    let c = client("load");
    lean.insert_client(&c, &[]).await.expect("client");
    let stores = Arc::new([("ping before every call", checked), ("default pool", lean)]);
    println!("op\tconcurrency\tpool\tcalls/s (median of {ROUNDS})");
    for op in [Op::Refresh, Op::ClientCredentials, Op::Introspection] {
        for tasks in [1, 16, 64] {
            let mut rates = [Vec::new(), Vec::new()];
            for _ in 0..ROUNDS {
                for (i, (_, store)) in stores.iter().enumerate() {
                    rates[i].push(rate(store, &c.id, op, tasks, TIME).await);
                }
            }
            for (i, (label, _)) in stores.iter().enumerate() {
                let r = median(rates[i].clone());
                println!("{op:?}\t{tasks}\t{label}\t{r:.0}");
            }
        }
    }
}
