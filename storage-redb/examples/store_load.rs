//! Store-level load on a redb file: the storage calls of a refresh
//! (`get_client`, `find_refresh_token`, `rotate_family`), a
//! client_credentials grant (`get_client`, `insert_access_token`) and an
//! introspection (`get_client`, `find_access_token`), each run by N
//! concurrent tasks for a fixed time. Prints operations per second and
//! durable commits (fsyncs) per operation.
//!
//! ```text
//! cargo run --release -p latchkey-redb --example store_load -- [seconds] [concurrency…]
//! ```
//!
//! A measuring tool, not a test: run it against two builds alternately to
//! compare them on a noisy machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use latchkey::clock::Timestamp;
use latchkey::conformance::sample_client;
use latchkey::model::{
    AccessTokenRecord, CodeRecord, CodeStatus, FamilyRecord, PreviousGeneration, RefreshGeneration,
};
use latchkey::scope::ScopeSet;
use latchkey::storage::{
    Approval, ClientStore as _, CodeStore as _, GrantStore as _, Issuance, RotateOutcome, Rotation,
    TokenStore as _,
};
use latchkey::token::TokenHash;
use latchkey_redb::RedbStore;

const T0: Timestamp = Timestamp(1_700_000_000);

/// A token hash made of a kind, a task and a counter.
fn hash(kind: u8, task: u32, n: u64) -> TokenHash {
    let mut b = [0u8; 32];
    b[0] = kind;
    b[1..5].copy_from_slice(&task.to_be_bytes());
    b[5..13].copy_from_slice(&n.to_be_bytes());
    TokenHash(b)
}

fn scopes() -> ScopeSet {
    ScopeSet::parse("profile:read").expect("scopes")
}

fn access(client: &str, family: Option<&str>, h: TokenHash) -> AccessTokenRecord {
    AccessTokenRecord {
        hash: h,
        family_id: family.map(str::to_owned),
        client_id: client.to_owned(),
        subject: "alice".into(),
        scopes: scopes(),
        resources: vec![],
        issued_at: T0,
        expires_at: T0.plus(900),
        revoked_at: None,
    }
}

/// Approves and redeems a code for `task`: its family, at generation 0.
async fn family(store: &RedbStore, client: &str, task: u32) -> String {
    let (grant, fam) = (format!("g{task}"), format!("f{task}"));
    let code = CodeRecord {
        hash: hash(1, task, 0),
        client_id: client.to_owned(),
        grant_id: grant.clone(),
        subject: format!("s{task}"),
        redirect_uri: "https://app.example/cb".into(),
        redirect_uri_explicit: true,
        scopes: scopes(),
        resources: vec![],
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        issued_at: T0,
        expires_at: T0.plus(600),
        failed_attempts: 0,
        status: CodeStatus::Unused,
    };
    store
        .approve(&Approval {
            challenge: None,
            code,
            remember: false,
            new_grant_id: grant.clone(),
            audit: latchkey::Audit::system(),
        })
        .await
        .expect("approve");
    let f = FamilyRecord {
        id: fam.clone(),
        grant_id: grant,
        client_id: client.to_owned(),
        subject: format!("s{task}"),
        scopes: scopes(),
        resources: vec![],
        generation: 0,
        current: RefreshGeneration {
            hash: hash(2, task, 0),
            issued_at: T0,
            expires_at: T0.plus(86_400),
        },
        previous: None,
        created_at: T0,
        expires_at: T0.plus(86_400),
        revoked: None,
    };
    let issuance = Issuance {
        access: access(client, Some(&fam), hash(3, task, 0)),
        family: f,
        events: vec![],
    };
    store
        .redeem_code(&hash(1, task, 0), T0, &issuance)
        .await
        .expect("redeem");
    fam
}

fn rotation(client: &str, fam: &str, task: u32, to: u64) -> Rotation {
    Rotation {
        current: RefreshGeneration {
            hash: hash(2, task, to),
            issued_at: T0.plus(to),
            expires_at: T0.plus(86_400 + to),
        },
        previous: PreviousGeneration {
            hash: hash(2, task, to - 1),
            rotated_at: T0.plus(to),
            sealed_successor: vec![7; 60],
        },
        access: access(client, Some(fam), hash(3, task, to)),
        expires_at: T0.plus(86_400 + to),
        now: T0.plus(to),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Refresh,
    ClientCredentials,
    Introspect,
}

/// Runs `op` with `tasks` concurrent tasks for `time`; returns calls per
/// second and durable commits per call.
async fn run(
    store: &Arc<RedbStore>,
    client: &str,
    op: Op,
    tasks: u32,
    time: Duration,
) -> (f64, f64) {
    // Introspection reads a token issued once per task.
    let mut fams = Vec::new();
    for t in 0..tasks {
        match op {
            Op::Refresh => fams.push(family(store, client, t).await),
            Op::Introspect => store
                .insert_access_token(&access(client, None, hash(4, t, 0)))
                .await
                .expect("token"),
            Op::ClientCredentials => {}
        }
    }
    let commits = store.durable_commits();
    let start = Instant::now();
    let deadline = start + time;
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (store, client) = (Arc::clone(store), client.to_owned());
            let fam = fams.get(t as usize).cloned().unwrap_or_default();
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    n += 1;
                    store.get_client(&client).await.expect("client");
                    match op {
                        Op::Refresh => {
                            let (f, g) = store
                                .find_refresh_token(&hash(2, t, n - 1))
                                .await
                                .expect("find")
                                .expect("live token");
                            let r = rotation(&client, &f.id, t, n);
                            let out = store.rotate_family(&fam, g, &r).await.expect("rotate");
                            assert_eq!(out, RotateOutcome::Rotated);
                        }
                        Op::ClientCredentials => store
                            .insert_access_token(&access(&client, None, hash(5, t, n)))
                            .await
                            .expect("insert"),
                        Op::Introspect => {
                            let v = store.find_access_token(&hash(4, t, 0)).await.expect("find");
                            assert!(v.is_some());
                        }
                    }
                }
                n
            })
        })
        .collect();
    let mut calls = 0u64;
    for h in handles {
        calls += h.await.expect("task");
    }
    let secs = start.elapsed().as_secs_f64();
    let fsyncs = store.durable_commits() - commits;
    (calls as f64 / secs, fsyncs as f64 / calls as f64)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let levels: Vec<u32> = args.iter().skip(1).filter_map(|s| s.parse().ok()).collect();
    let levels = if levels.is_empty() {
        vec![1, 16, 64]
    } else {
        levels
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for (name, op) in [
            ("refresh", Op::Refresh),
            ("client_credentials", Op::ClientCredentials),
            ("introspection", Op::Introspect),
        ] {
            for &c in &levels {
                // A fresh file per point, in the working directory's file
                // system (a tmpfs would not fsync).
                let dir = tempfile::tempdir_in(".").expect("dir");
                let store = Arc::new(RedbStore::open(dir.path().join("load.redb")).expect("open"));
                let client = sample_client("load");
                store.insert_client(&client, &[]).await.expect("client");
                let (rate, fsyncs) =
                    run(&store, &client.id, op, c, Duration::from_secs_f64(secs)).await;
                println!("{name}\t{c}\t{rate:.0}\t{fsyncs:.3}");
            }
        }
    });
}
