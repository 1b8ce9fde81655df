//! Several store instances on one PostgreSQL database: two stores with
//! separate pools in this process, and a second OS process (this test
//! binary re-executed as a child) racing on the same rows.
#![cfg(feature = "postgres")]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::fixtures::{
    approved_code, family_revoked, issuance, issued_family, revocation, rotation, T0,
};
use latchkey::model::{ChallengeRecord, PendingAuthorization};
use latchkey::storage::{ChallengeStore, CodeStore, RedeemOutcome, RotateOutcome, TokenStore};
use latchkey::token::TokenHash;
use latchkey_sqlx::PgStore;

async fn two_stores() -> (common::pg::DropDb, Arc<PgStore>, Arc<PgStore>) {
    let (name, url) = common::pg::create_db().await;
    let db = common::pg::DropDb(name);
    let a = PgStore::connect(&url).await.expect("connect a");
    a.migrate().await.expect("migrate");
    let b = PgStore::connect(&url).await.expect("connect b");
    // Migrating again from the second instance is a no-op.
    assert!(b.migrate().await.expect("migrate b").applied.is_empty());
    (db, Arc::new(a), Arc::new(b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_race_on_rotation_and_redemption() {
    let (_db, a, b) = two_stores().await;

    // 32 rotations of one generation, split across both instances.
    let (_, iss) = issued_family(&*a, "alice").await;
    let mut tasks = Vec::new();
    for i in 0..32u8 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let r = rotation(&iss.family, iss.family.current.hash, i);
        let fid = iss.family.id.clone();
        tasks.push(tokio::spawn(
            async move { s.rotate_family(&fid, 0, &r).await },
        ));
    }
    let mut rotated = 0;
    for t in tasks {
        match t.await.expect("join").expect("rotate") {
            RotateOutcome::Rotated => rotated += 1,
            RotateOutcome::Stale => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(rotated, 1, "exactly one rotation across two instances");

    // 32 redemptions of one code, split across both instances.
    let (_, code) = approved_code(&*a, "bob").await;
    let mut tasks = Vec::new();
    for i in 0..32 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let iss = issuance(&code);
        let h = code.hash;
        tasks.push(tokio::spawn(async move {
            (s.redeem_code(&h, T0, &iss).await, iss.family.id)
        }));
    }
    let mut winners = Vec::new();
    let mut reported = Vec::new();
    for t in tasks {
        match t.await.expect("join") {
            (Ok(RedeemOutcome::Issued), fid) => winners.push(fid),
            (Ok(RedeemOutcome::AlreadyRedeemed { family_id }), _) => reported.push(family_id),
            (other, _) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one redemption across two instances"
    );
    assert!(reported.iter().all(|f| *f == winners[0]));

    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revocation_and_challenges_cross_instances() {
    let (_db, a, b) = two_stores().await;
    let (_, iss) = issued_family(&*a, "carol").await;
    let seen = b
        .find_access_token(&iss.access.hash)
        .await
        .expect("find")
        .expect("some");
    assert!(!seen.family_revoked);
    assert!(a
        .revoke_family(&iss.family.id, revocation(), &[family_revoked(&iss.family)])
        .await
        .expect("revoke"));
    // No cache anywhere: the other instance sees it on its next read.
    let seen = b
        .find_access_token(&iss.access.hash)
        .await
        .expect("find")
        .expect("some");
    assert!(
        seen.family_revoked,
        "revocation through A must be seen by B at once"
    );
    let r = rotation(&iss.family, iss.family.current.hash, 1);
    assert_eq!(
        b.rotate_family(&iss.family.id, 0, &r)
            .await
            .expect("rotate"),
        RotateOutcome::Revoked
    );

    let ch = ChallengeRecord {
        hash: common::fixtures::hash(),
        binding: common::fixtures::hash(),
        request: PendingAuthorization {
            client_id: "c".into(),
            redirect_uri: "https://app.example/cb".into(),
            redirect_uri_explicit: false,
            state: None,
            scopes: common::fixtures::scopes(),
            resources: vec![],
            code_challenge: "x".into(),
            device: None,
        },
        created_at: T0,
        expires_at: T0.plus(600),
    };
    a.insert_challenge(&ch).await.expect("insert through a");
    assert_eq!(
        b.take_challenge(&ch.hash, T0)
            .await
            .expect("take through b"),
        Some(ch.clone())
    );
    assert_eq!(
        a.take_challenge(&ch.hash, T0)
            .await
            .expect("take through a"),
        None
    );

    drop((a, b));
}

/// Tallies printed by a child process.
const RESULT_TAG: &str = "LK_CHILD_RESULT";

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Runs 16 redemptions of a code and 16 rotations of a family at `go_at`
/// (ms since the epoch) from this process; returns (issued, rotated).
async fn race(
    store: Arc<PgStore>,
    code: TokenHash,
    family: latchkey::model::FamilyRecord,
    go_at: u64,
) -> (u32, u32) {
    let wait = go_at.saturating_sub(unix_ms());
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let s = store.clone();
        let f = family.clone();
        tasks.push(tokio::spawn(async move {
            let c = latchkey::model::CodeRecord {
                hash: code,
                ..common::fixtures::code(&common::fixtures::grant("x", "y"))
            };
            let iss = issuance(&latchkey::model::CodeRecord {
                grant_id: f.grant_id.clone(),
                ..c
            });
            let redeemed = s.redeem_code(&code, T0, &iss).await.expect("redeem");
            let r = rotation(&f, f.current.hash, i);
            let rotated = s.rotate_family(&f.id, 0, &r).await.expect("rotate");
            (redeemed, rotated)
        }));
    }
    let (mut issued, mut rotated) = (0, 0);
    for t in tasks {
        let (a, b) = t.await.expect("join");
        match a {
            RedeemOutcome::Issued => issued += 1,
            RedeemOutcome::AlreadyRedeemed { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
        match b {
            RotateOutcome::Rotated => rotated += 1,
            RotateOutcome::Stale => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    (issued, rotated)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_race_on_one_code_and_one_family() {
    let (name, url) = common::pg::create_db().await;
    let _db = common::pg::DropDb(name.clone());
    let store = Arc::new(PgStore::connect(&url).await.expect("connect"));
    store.migrate().await.expect("migrate");
    let (_, code) = approved_code(&*store, "dave").await;
    let (_, iss) = issued_family(&*store, "erin").await;
    let go_at = unix_ms() + 2_000;

    let exe = std::env::current_exe().expect("test binary");
    let child = tokio::process::Command::new(exe)
        .args([
            "--exact",
            "child_process_worker",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LK_CHILD_URL", &url)
        .env("LK_CHILD_CODE", code.hash.to_hex())
        .env(
            "LK_CHILD_FAMILY",
            serde_json::to_string(&iss.family).expect("json"),
        )
        .env("LK_CHILD_GO_AT", go_at.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn child process");
    let (mine, out) = tokio::join!(
        race(store.clone(), code.hash, iss.family.clone(), go_at),
        child.wait_with_output()
    );
    let out = out.expect("child output");
    assert!(out.status.success(), "child failed: {out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once(RESULT_TAG).map(|(_, r)| r))
        .unwrap_or_else(|| panic!("child printed no result: {stdout}"));
    let theirs: Vec<u32> = line
        .split_whitespace()
        .map(|n| n.parse().expect("number"))
        .collect();
    println!("parent (issued, rotated) = {mine:?}; child = {theirs:?}");
    assert_eq!(
        mine.0 + theirs[0],
        1,
        "exactly one redemption across two processes"
    );
    assert_eq!(
        mine.1 + theirs[1],
        1,
        "exactly one rotation across two processes"
    );
    drop(store);
}

/// The child side of `two_processes_race_on_one_code_and_one_family`; run
/// only by it (hence ignored).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "child process of two_processes_race_on_one_code_and_one_family"]
async fn child_process_worker() {
    let Ok(url) = std::env::var("LK_CHILD_URL") else {
        return;
    };
    let hex = std::env::var("LK_CHILD_CODE").expect("code");
    let mut code = [0u8; 32];
    for (i, b) in code.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex");
    }
    let family =
        serde_json::from_str(&std::env::var("LK_CHILD_FAMILY").expect("family")).expect("json");
    let go_at: u64 = std::env::var("LK_CHILD_GO_AT")
        .expect("go")
        .parse()
        .expect("ms");
    let store = Arc::new(PgStore::connect(&url).await.expect("connect"));
    let (issued, rotated) = race(store, TokenHash(code), family, go_at).await;
    println!("\n{RESULT_TAG} {issued} {rotated}");
}
