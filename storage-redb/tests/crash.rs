//! Crash safety: a writer process is killed with SIGKILL at random moments
//! and inside open write transactions; after each kill the file must reopen
//! and every multi-record change must be all there or not at all. Also: a
//! panic inside a write leaves nothing half-written.
//!
//! The writer is this test binary run again (see `common::child`) with only
//! the ignored `crash_writer_child` test selected. It works through
//! deterministic ids, so the checker knows what every record should look
//! like without talking to it.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::Rng;
use latchkey::clock::Timestamp;
use latchkey::model::{
    AccessTokenRecord, ClientRecord, CodeRecord, CodeStatus, EventKind, FamilyRecord, GrantRecord,
    NewEvent, PreviousGeneration, RefreshGeneration, Revocation, RevocationReason,
};
use latchkey::scope::ScopeSet;
use latchkey::storage::{
    Approval, ApproveOutcome, ClientStore as _, CodeStore as _, EventStore as _, GrantStore as _,
    Issuance, PurgeStore as _, RedeemOutcome, RotateOutcome, Rotation, Storage, StorageError,
    TokenStore as _,
};
use latchkey::token::TokenHash;
use latchkey_redb::RedbStore;

const T0: Timestamp = Timestamp(1_700_000_000);
/// Writer tasks per child: concurrent writers contend for redb's single
/// write lock, as an engine under load would.
const TASKS: u32 = 3;
const MAX_ROTATIONS: u64 = 4;

const ENV_DB: &str = "LATCHKEY_CRASH_DB";
const ENV_ROUND: &str = "LATCHKEY_CRASH_ROUND";
const ENV_PAUSE_AFTER: &str = "LATCHKEY_CRASH_PAUSE_AFTER";
const ENV_SEED: &str = "LATCHKEY_CRASH_SEED";
const ENV_ROUNDS: &str = "LATCHKEY_CRASH_ROUNDS";

// --- deterministic ids --------------------------------------------------

#[derive(Clone, Copy)]
struct Slot {
    round: u32,
    task: u32,
    k: u32,
}

impl Slot {
    fn client(&self) -> String {
        format!("c{}-{}", self.round, self.task)
    }
    fn subject(&self) -> String {
        format!("s{}-{}-{}", self.round, self.task, self.k)
    }
    fn grant(&self) -> String {
        format!("g{}-{}-{}", self.round, self.task, self.k)
    }
    fn family(&self) -> String {
        format!("f{}-{}-{}", self.round, self.task, self.k)
    }
    fn hash(&self, kind: u8, generation: u64) -> TokenHash {
        let mut b = [0u8; 32];
        b[0] = kind;
        b[1..5].copy_from_slice(&self.round.to_be_bytes());
        b[5..9].copy_from_slice(&self.task.to_be_bytes());
        b[9..13].copy_from_slice(&self.k.to_be_bytes());
        b[13..21].copy_from_slice(&generation.to_be_bytes());
        TokenHash(b)
    }
    fn code(&self) -> TokenHash {
        self.hash(1, 0)
    }
    fn refresh(&self, generation: u64) -> TokenHash {
        self.hash(2, generation)
    }
    fn access(&self, generation: u64) -> TokenHash {
        self.hash(3, generation)
    }
}

fn scopes() -> ScopeSet {
    ScopeSet::parse("profile:read").expect("scopes")
}

fn ev(kind: EventKind) -> NewEvent {
    NewEvent {
        audit: latchkey::Audit::system(),
        at: T0,
        kind,
    }
}

fn grant_record(s: Slot) -> GrantRecord {
    GrantRecord {
        id: s.grant(),
        subject: s.subject(),
        client_id: s.client(),
        scopes: scopes(),
        resources: vec![],
        remembered_scopes: None,
        created_at: T0,
        last_used_at: T0,
        revision: 0,
    }
}

/// The approval that creates the slot's grant ([`grant_record`]) with its
/// code; the store appends `GrantCreated` and `ConsentGiven` for it.
fn approval(s: Slot) -> Approval {
    Approval {
        challenge: None,
        code: code_record(s),
        remember: false,
        new_grant_id: s.grant(),
        audit: latchkey::Audit::system(),
    }
}

/// Approves the slot, which must create its grant.
async fn approve(store: &RedbStore, s: Slot) {
    let out = store.approve(&approval(s)).await.expect("approve");
    assert_eq!(
        out,
        ApproveOutcome::Approved {
            grant_id: s.grant()
        }
    );
}

fn code_record(s: Slot) -> CodeRecord {
    CodeRecord {
        hash: s.code(),
        client_id: s.client(),
        grant_id: s.grant(),
        subject: s.subject(),
        redirect_uri: "https://app.example/cb".into(),
        redirect_uri_explicit: true,
        scopes: scopes(),
        resources: vec![],
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        issued_at: T0,
        expires_at: T0.plus(600),
        failed_attempts: 0,
        status: CodeStatus::Unused,
    }
}

fn access_record(s: Slot, generation: u64) -> AccessTokenRecord {
    AccessTokenRecord {
        hash: s.access(generation),
        family_id: Some(s.family()),
        client_id: s.client(),
        subject: s.subject(),
        scopes: scopes(),
        resources: vec![],
        issued_at: T0.plus(generation),
        expires_at: T0.plus(300 + generation),
        revoked_at: None,
    }
}

fn family_record(s: Slot) -> FamilyRecord {
    FamilyRecord {
        id: s.family(),
        grant_id: s.grant(),
        client_id: s.client(),
        subject: s.subject(),
        scopes: scopes(),
        resources: vec![],
        generation: 0,
        current: RefreshGeneration {
            hash: s.refresh(0),
            issued_at: T0,
            expires_at: T0.plus(86_400),
        },
        previous: None,
        created_at: T0,
        expires_at: T0.plus(86_400),
        revoked: None,
    }
}

fn rotation(s: Slot, to: u64) -> Rotation {
    Rotation {
        current: RefreshGeneration {
            hash: s.refresh(to),
            issued_at: T0.plus(to),
            expires_at: T0.plus(86_400 + to),
        },
        previous: PreviousGeneration {
            hash: s.refresh(to - 1),
            rotated_at: T0.plus(to),
            sealed_successor: vec![to as u8; 24],
        },
        access: access_record(s, to),
        expires_at: T0.plus(86_400 + to),
        now: T0.plus(to),
    }
}

fn client_record(round: u32, task: u32) -> ClientRecord {
    let mut c = latchkey::conformance::sample_client("crash");
    c.id = Slot { round, task, k: 0 }.client();
    c
}

// --- the writer child ---------------------------------------------------

/// One writer task: approve, redeem, rotate, and sometimes revoke, slot
/// after slot, until the process is killed.
async fn write_forever(store: Arc<RedbStore>, round: u32, task: u32, seed: u64) {
    let mut rng = Rng::new(seed ^ (u64::from(task) << 32) ^ u64::from(round));
    store
        .insert_client(&client_record(round, task), &[])
        .await
        .expect("insert client");
    for k in 0.. {
        let s = Slot { round, task, k };
        let g = grant_record(s);
        approve(&store, s).await;
        let issuance = Issuance {
            family: family_record(s),
            access: access_record(s, 0),
            events: vec![ev(EventKind::ConsentGiven {
                grant_id: g.id.clone(),
                subject: g.subject.clone(),
                client_id: g.client_id.clone(),
                scopes: scopes(),
            })],
        };
        let out = store.redeem_code(&s.code(), T0, &issuance).await;
        assert_eq!(out.expect("redeem"), RedeemOutcome::Issued);
        let rotations = rng.range(0, MAX_ROTATIONS + 1);
        for to in 1..=rotations {
            let out = store
                .rotate_family(&s.family(), to - 1, &rotation(s, to))
                .await;
            assert_eq!(out.expect("rotate"), RotateOutcome::Rotated);
        }
        let choice = rng.range(0, 6);
        match choice {
            0 | 1 => {
                let e = ev(EventKind::FamilyRevoked {
                    family_id: s.family(),
                    grant_id: s.grant(),
                    client_id: s.client(),
                    reason: RevocationReason::Requested,
                });
                let r = Revocation {
                    at: T0,
                    reason: RevocationReason::Requested,
                };
                assert!(store
                    .revoke_family(&s.family(), r, &[e])
                    .await
                    .expect("revoke"));
            }
            2 => {
                let e = ev(EventKind::GrantRevoked {
                    grant_id: s.grant(),
                    subject: s.subject(),
                    client_id: s.client(),
                });
                let r = Revocation {
                    at: T0,
                    reason: RevocationReason::GrantRevoked,
                };
                assert!(store
                    .revoke_grant(&s.grant(), r, &[e])
                    .await
                    .expect("revoke grant"));
            }
            3 => {
                let e = ev(EventKind::AccessTokenRevoked {
                    client_id: s.client(),
                    subject: s.subject(),
                });
                let h = s.access(rotations);
                assert!(store
                    .revoke_access_token(&h, T0.plus(1), &[e])
                    .await
                    .expect("revoke access"));
            }
            _ => {}
        }
        // Printed only after every call of the slot returned Ok: the checker
        // then requires all of it to have survived the kill.
        println!("DONE {task} {k} {rotations} {choice}");
    }
}

/// Child role of the crash tests: writes until killed. With
/// `LATCHKEY_CRASH_PAUSE_AFTER=n` it stops inside the n-th write
/// transaction (fault hook), announces it and waits to be killed there.
#[test]
#[ignore = "child process role of the crash tests, not a test by itself"]
fn crash_writer_child() {
    let Some(path) = std::env::var_os(ENV_DB) else {
        return;
    };
    let env_u64 = |k: &str| -> u64 {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{k} must be set"))
    };
    let round = u32::try_from(env_u64(ENV_ROUND)).expect("round");
    let seed = env_u64(ENV_SEED);
    let store = Arc::new(RedbStore::open(PathBuf::from(path)).expect("child open"));
    if let Some(pause_after) = std::env::var(ENV_PAUSE_AFTER)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        let calls = AtomicU64::new(0);
        store.set_fault_hook(move |op, stage| {
            if calls.fetch_add(1, Ordering::SeqCst) + 1 == pause_after {
                println!("PAUSED {op}:{stage}");
                // Inside the open transaction: wait for the SIGKILL.
                std::thread::sleep(Duration::from_secs(120));
            }
        });
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        println!("READY");
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| tokio::spawn(write_forever(store.clone(), round, t, seed)))
            .collect();
        for t in tasks {
            t.await.expect("writer task");
        }
    });
}

// --- the checker --------------------------------------------------------

/// What the checker found, summed over slots.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    approved_only: u64,
    redeemed: u64,
    rotations: u64,
    family_revocations: u64,
    grant_revocations: u64,
    access_revocations: u64,
}

/// Event counts by the id they name.
#[derive(Default)]
struct Outbox {
    grant_created: HashMap<String, u32>,
    consent_given: HashMap<String, u32>,
    family_revoked: HashMap<String, u32>,
    grant_revoked: HashMap<String, u32>,
    access_revoked: HashMap<String, u32>,
}

impl Outbox {
    async fn read(store: &RedbStore, consumer: &str) -> Outbox {
        let mut o = Outbox::default();
        for e in store.poll_events(consumer, usize::MAX).await.expect("poll") {
            let (map, key) = match e.kind {
                EventKind::GrantCreated { grant_id, .. } => (&mut o.grant_created, grant_id),
                EventKind::ConsentGiven { grant_id, .. } => (&mut o.consent_given, grant_id),
                EventKind::FamilyRevoked { family_id, .. } => (&mut o.family_revoked, family_id),
                EventKind::GrantRevoked { grant_id, .. } => (&mut o.grant_revoked, grant_id),
                EventKind::AccessTokenRevoked { subject, .. } => (&mut o.access_revoked, subject),
                other => panic!("unexpected event {other:?}"),
            };
            *map.entry(key).or_default() += 1;
        }
        o
    }
}

fn count(map: &HashMap<String, u32>, key: &str) -> u32 {
    map.get(key).copied().unwrap_or(0)
}

/// Checks one slot; returns `false` when the writer never got to it.
async fn check_slot(store: &RedbStore, o: &Outbox, s: Slot, tally: &mut Tally) -> bool {
    let at = format!("slot r{} t{} k{}", s.round, s.task, s.k);
    let code = store.get_code(&s.code()).await.expect("code");
    let grant = store.get_grant_by_id(&s.grant()).await.expect("grant");
    let family = store.get_family(&s.family()).await.expect("family");
    let Some(code) = code else {
        // approve never committed: none of it, nor anything after it.
        assert!(grant.is_none(), "{at}: grant without its code");
        assert_eq!(
            count(&o.grant_created, &s.grant()),
            0,
            "{at}: event without approve"
        );
        assert_eq!(
            count(&o.consent_given, &s.grant()),
            0,
            "{at}: consent event without approve"
        );
        assert!(family.is_none(), "{at}: family without its code");
        return false;
    };
    assert_eq!(
        count(&o.grant_created, &s.grant()),
        1,
        "{at}: approve event"
    );
    // ConsentGiven is written by the approval and again, as the writer's
    // stand-in redeem event, by the redemption: one or two, by the status.
    let consents = count(&o.consent_given, &s.grant());
    let grant_revoked = count(&o.grant_revoked, &s.grant());
    assert_eq!(
        grant.is_none(),
        grant_revoked == 1,
        "{at}: a grant is gone exactly when its revocation event is there"
    );
    assert!(grant_revoked <= 1, "{at}: grant revoked twice");
    tally.grant_revocations += u64::from(grant_revoked);
    let family_id = match &code.status {
        CodeStatus::Unused => {
            assert!(family.is_none(), "{at}: unused code but family stored");
            assert_eq!(
                store.find_refresh_token(&s.refresh(0)).await.expect("rt"),
                None
            );
            assert_eq!(
                store.find_access_token(&s.access(0)).await.expect("at"),
                None
            );
            assert_eq!(consents, 1, "{at}: redeem event without redeem");
            tally.approved_only += 1;
            return true;
        }
        CodeStatus::Redeemed { family_id } => family_id.clone(),
        other => panic!("{at}: unexpected code status {other:?}"),
    };
    tally.redeemed += 1;
    assert_eq!(family_id, s.family(), "{at}: code names another family");
    assert_eq!(consents, 2, "{at}: approve and redeem events");
    let f = family.unwrap_or_else(|| panic!("{at}: redeemed code without its family"));
    let n = f.generation;
    assert!(n <= MAX_ROTATIONS, "{at}: generation {n}");
    tally.rotations += n;
    assert_eq!(f.current.hash, s.refresh(n), "{at}: current refresh token");
    for g in 0..=n {
        let (rf, rg) = store
            .find_refresh_token(&s.refresh(g))
            .await
            .expect("rt")
            .unwrap_or_else(|| panic!("{at}: refresh token of generation {g} not indexed"));
        assert_eq!(
            (rf.id.as_str(), rg),
            (f.id.as_str(), g),
            "{at}: refresh index"
        );
        let a = store
            .find_access_token(&s.access(g))
            .await
            .expect("at")
            .unwrap_or_else(|| panic!("{at}: access token of generation {g} missing"));
        assert_eq!(a.token.family_id.as_deref(), Some(f.id.as_str()));
        assert_eq!(a.family_revoked, f.revoked.is_some(), "{at}: access view");
    }
    // Nothing of a rotation that did not commit.
    assert_eq!(
        store
            .find_refresh_token(&s.refresh(n + 1))
            .await
            .expect("rt"),
        None,
        "{at}: half a rotation"
    );
    assert_eq!(
        store.find_access_token(&s.access(n + 1)).await.expect("at"),
        None,
        "{at}: half a rotation"
    );
    if n > 0 {
        let prev = f.previous.as_ref().expect("previous generation");
        assert_eq!(prev.hash, s.refresh(n - 1), "{at}: previous generation");
    }
    let family_revoked = count(&o.family_revoked, &f.id);
    match f.revoked.map(|r| r.reason) {
        None => {
            assert_eq!(
                family_revoked, 0,
                "{at}: revocation event without revocation"
            );
            assert_eq!(grant_revoked, 0, "{at}: grant revoked but family alive");
        }
        Some(RevocationReason::Requested) => {
            assert_eq!(family_revoked, 1, "{at}: revoked family without its event");
            tally.family_revocations += 1;
        }
        Some(RevocationReason::GrantRevoked) => {
            assert_eq!(grant_revoked, 1, "{at}: cascade without the grant event");
            assert_eq!(family_revoked, 0, "{at}: stray family event");
        }
        Some(other) => panic!("{at}: unexpected revocation {other:?}"),
    }
    // The writer revokes the newest access token of a slot.
    let newest = store
        .find_access_token(&s.access(n))
        .await
        .expect("at")
        .expect("newest access token");
    let access_revoked = count(&o.access_revoked, &s.subject());
    assert_eq!(
        newest.token.revoked_at.is_some(),
        access_revoked == 1,
        "{at}: access token revoked exactly when its event is there"
    );
    assert!(access_revoked <= 1, "{at}: access token revoked twice");
    tally.access_revocations += u64::from(access_revoked);
    true
}

/// A slot the writer reported finished before it was killed.
struct Acknowledged {
    slot: Slot,
    rotations: u64,
    choice: u64,
}

fn parse_done(round: u32, line: &str) -> Acknowledged {
    let n: Vec<u64> = line
        .split_whitespace()
        .map(|w| w.parse().expect("DONE line"))
        .collect();
    let [task, k, rotations, choice] = n[..] else {
        panic!("bad DONE line {line:?}");
    };
    Acknowledged {
        slot: Slot {
            round,
            task: u32::try_from(task).expect("task"),
            k: u32::try_from(k).expect("k"),
        },
        rotations,
        choice,
    }
}

/// Every change the writer saw succeed is still there after the kill.
async fn check_acknowledged(store: &RedbStore, done: &[Acknowledged]) {
    for a in done {
        let s = a.slot;
        let at = format!("acknowledged slot t{} k{}", s.task, s.k);
        let f = store
            .get_family(&s.family())
            .await
            .expect("fam")
            .unwrap_or_else(|| panic!("{at}: family lost"));
        assert_eq!(f.generation, a.rotations, "{at}: rotations lost");
        let reason = f.revoked.map(|r| r.reason);
        let grant = store.get_grant_by_id(&s.grant()).await.expect("grant");
        let access = store
            .find_access_token(&s.access(a.rotations))
            .await
            .expect("at")
            .expect("newest access token");
        match a.choice {
            0 | 1 => assert_eq!(reason, Some(RevocationReason::Requested), "{at}"),
            2 => {
                assert_eq!(reason, Some(RevocationReason::GrantRevoked), "{at}");
                assert!(grant.is_none(), "{at}: revoked grant came back");
            }
            3 => assert!(
                access.token.revoked_at.is_some(),
                "{at}: token revocation lost"
            ),
            _ => assert_eq!(reason, None, "{at}"),
        }
    }
}

/// Checks every slot of rounds `0..=last`; returns the tally of `last`.
async fn check_rounds(store: &RedbStore, last: u32, consumer: &str) -> Tally {
    let outbox = Outbox::read(store, consumer).await;
    let mut tally = Tally::default();
    for round in 0..=last {
        let mut this = Tally::default();
        for task in 0..TASKS {
            let mut k = 0;
            while check_slot(store, &outbox, Slot { round, task, k }, &mut this).await {
                k += 1;
            }
            // The writer is sequential per task: nothing after the first gap.
            let mut after = Tally::default();
            assert!(
                !check_slot(
                    store,
                    &outbox,
                    Slot {
                        round,
                        task,
                        k: k + 1
                    },
                    &mut after
                )
                .await,
                "round {round} task {task}: slot after a gap"
            );
        }
        if round == last {
            tally = this;
        }
    }
    tally
}

/// redb's own integrity check of the whole file (page checksums, allocator
/// state), on a raw handle.
fn redb_integrity(path: &Path) -> bool {
    let mut db = redb::Database::open(path).expect("raw reopen after kill");
    db.check_integrity().expect("integrity check")
}

/// Kills the child on drop, so a failing assertion never leaves it running.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_writer(
    path: &Path,
    round: u32,
    seed: u64,
    pause_after: Option<u64>,
) -> (Reaper, mpsc::Receiver<String>) {
    let mut env: Vec<(&str, String)> = vec![
        (ENV_DB, path.display().to_string()),
        (ENV_ROUND, round.to_string()),
        (ENV_SEED, seed.to_string()),
    ];
    if let Some(n) = pause_after {
        env.push((ENV_PAUSE_AFTER, n.to_string()));
    }
    let mut child = common::child("crash_writer_child", env)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn writer");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Reaper(child), rx)
}

/// Waits for a line containing `marker` (libtest may print its own text
/// before it on the same line) and returns the rest of it; lines before it
/// go to `seen`.
fn wait_for(
    rx: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    marker: &str,
    timeout: Duration,
) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(at) = line.find(marker) {
                    return line[at + marker.len()..].trim().to_owned();
                }
                seen.push(line);
            }
            Err(e) => panic!("writer never printed {marker:?}: {e}"),
        }
    }
}

fn kill(mut reaper: Reaper) -> std::process::ExitStatus {
    reaper.0.kill().expect("SIGKILL");
    let status = reaper.0.wait().expect("wait");
    std::mem::forget(reaper);
    status
}

#[test]
fn sigkill_mid_write_never_leaves_half_a_change() {
    use std::os::unix::process::ExitStatusExt as _;

    let rounds: u32 = std::env::var(ENV_ROUNDS)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let seed: u64 = std::env::var(ENV_SEED)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    println!("crash test: {rounds} rounds, seed {seed} (replay with {ENV_SEED}={seed})");
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("crash.redb");
    drop(RedbStore::open(&path).expect("create"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut total = Tally::default();
    let mut repaired = 0;
    let mut acknowledged = 0;
    for round in 0..rounds {
        // Even rounds: kill at a random time (often inside a commit's
        // fsync). Odd rounds: kill inside an open transaction, at the
        // n-th fault point the writer reaches.
        let pause_after = (round % 2 == 1).then(|| rng.range(1, 400));
        let (child, lines) = spawn_writer(
            &path,
            round,
            seed.wrapping_add(u64::from(round)),
            pause_after,
        );
        let mut seen = Vec::new();
        wait_for(&lines, &mut seen, "READY", Duration::from_secs(60));
        let point = match pause_after {
            None => {
                let ms = rng.range(20, 700);
                std::thread::sleep(Duration::from_millis(ms));
                format!("after {ms} ms")
            }
            Some(n) => {
                let line = wait_for(&lines, &mut seen, "PAUSED", Duration::from_secs(120));
                format!("inside write #{n} at {line}")
            }
        };
        let status = kill(child);
        // The child is dead and its pipe closed: every line it wrote is here.
        seen.extend(lines.iter());
        let done: Vec<Acknowledged> = seen
            .iter()
            .filter_map(|l| l.find("DONE ").map(|at| parse_done(round, &l[at + 5..])))
            .collect();
        assert_eq!(
            status.signal(),
            Some(9),
            "round {round}: the writer died before the kill ({status:?}); see its stderr"
        );
        if !redb_integrity(&path) {
            repaired += 1;
        }
        let store = RedbStore::open(&path).expect("reopen after SIGKILL");
        let tally = rt.block_on(async {
            check_acknowledged(&store, &done).await;
            check_rounds(&store, round, &format!("checker-{round}")).await
        });
        println!(
            "round {round:2}: killed {point}; {} acknowledged slots intact; {tally:?}",
            done.len()
        );
        acknowledged += done.len();
        total.approved_only += tally.approved_only;
        total.redeemed += tally.redeemed;
        total.rotations += tally.rotations;
        total.family_revocations += tally.family_revocations;
        total.grant_revocations += tally.grant_revocations;
        total.access_revocations += tally.access_revocations;
    }
    println!(
        "crash test total: {total:?}; {acknowledged} acknowledged slots intact; \
         files redb had to repair: {repaired}"
    );
    assert_eq!(repaired, 0, "redb found damage that open had not recovered");
    assert!(
        total.redeemed > 0 && total.rotations > 0,
        "the writers did too little to prove anything"
    );

    // The recovered file is fully usable: every index still agrees with its
    // records, so purging everything leaves nothing behind.
    rt.block_on(async {
        let store = RedbStore::open(&path).expect("final open");
        let far = T0.plus(10 * 86_400);
        let mut families = 0;
        loop {
            let r = store.purge_expired(far, 500).await.expect("purge");
            families += r.families;
            if r.challenges + r.codes + r.access_tokens + r.families == 0 {
                break;
            }
        }
        assert_eq!(families, total.redeemed, "every family is purged once");
        for round in 0..rounds {
            for task in 0..TASKS {
                let s = Slot { round, task, k: 0 };
                assert_eq!(store.get_family(&s.family()).await.expect("fam"), None);
                assert_eq!(
                    store.find_refresh_token(&s.refresh(0)).await.expect("rt"),
                    None
                );
            }
        }
    });
}

// --- panics inside a write ----------------------------------------------

/// Installs a hook that panics at `op`/`stage`.
fn panic_at(store: &RedbStore, op: &'static str, stage: &'static str) {
    store.set_fault_hook(move |o, s| {
        if o == op && s == stage {
            panic!("injected panic at {op}:{stage}");
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_mid_write_rolls_back_and_store_recovers() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("panic.redb");
    let store = RedbStore::open(&path).expect("open");
    let s = Slot {
        round: 0,
        task: 0,
        k: 0,
    };
    store
        .insert_client(&client_record(0, 0), &[])
        .await
        .expect("client");
    approve(&store, s).await;
    // Both consumers start after the approval's own events, so the counts
    // below are of what the faulted calls wrote.
    for consumer in ["p", "p2"] {
        let seen = store.poll_events(consumer, 10).await.expect("poll");
        assert_eq!(seen.len(), 2, "GrantCreated and ConsentGiven: {seen:?}");
        store.ack_events(consumer, seen[1].seq).await.expect("ack");
    }
    let issuance = Issuance {
        family: family_record(s),
        access: access_record(s, 0),
        events: vec![ev(EventKind::ConsentGiven {
            grant_id: s.grant(),
            subject: s.subject(),
            client_id: s.client(),
            scopes: scopes(),
        })],
    };

    // A panic between marking the code redeemed and storing the family.
    panic_at(&store, "redeem_code", "mid");
    let err = store.redeem_code(&s.code(), T0, &issuance).await;
    assert!(matches!(err, Err(StorageError::Backend(_))), "{err:?}");
    let assert_not_redeemed = |store: RedbStore| async move {
        let code = store
            .get_code(&s.code())
            .await
            .expect("code")
            .expect("code kept");
        assert_eq!(
            code.status,
            CodeStatus::Unused,
            "the code was not half-redeemed"
        );
        assert_eq!(store.get_family(&s.family()).await.expect("fam"), None);
        assert_eq!(
            store.find_refresh_token(&s.refresh(0)).await.expect("rt"),
            None
        );
        assert_eq!(
            store.find_access_token(&s.access(0)).await.expect("at"),
            None
        );
        assert!(store.poll_events("p", 10).await.expect("poll").is_empty());
    };
    assert_not_redeemed(store.clone()).await;

    // Same process, same handle: the store keeps working.
    store.clear_fault_hook();
    assert_eq!(
        store
            .redeem_code(&s.code(), T0, &issuance)
            .await
            .expect("redeem"),
        RedeemOutcome::Issued
    );

    // A panic just before a rotation commits.
    panic_at(&store, "rotate_family", "commit");
    let err = store.rotate_family(&s.family(), 0, &rotation(s, 1)).await;
    assert!(matches!(err, Err(StorageError::Backend(_))), "{err:?}");
    // And one inside a revocation, between the mark and its event.
    panic_at(&store, "revoke_family", "mid");
    let r = Revocation {
        at: T0,
        reason: RevocationReason::Requested,
    };
    let e = ev(EventKind::FamilyRevoked {
        family_id: s.family(),
        grant_id: s.grant(),
        client_id: s.client(),
        reason: RevocationReason::Requested,
    });
    let err = store
        .revoke_family(&s.family(), r, std::slice::from_ref(&e))
        .await;
    assert!(matches!(err, Err(StorageError::Backend(_))), "{err:?}");

    // Restart: the panics left pages redb must reclaim on the next open.
    drop(store);
    let store = RedbStore::open(&path).expect("reopen after panics");
    let f = store
        .get_family(&s.family())
        .await
        .expect("fam")
        .expect("family");
    assert_eq!(f.generation, 0, "the panicked rotation did not apply");
    assert_eq!(f.revoked, None, "the panicked revocation did not apply");
    assert_eq!(
        store.find_refresh_token(&s.refresh(1)).await.expect("rt"),
        None
    );
    assert_eq!(
        store.find_access_token(&s.access(1)).await.expect("at"),
        None
    );
    let events = store.poll_events("p2", 10).await.expect("poll");
    assert_eq!(events.len(), 1, "only the redeem event: {events:?}");
    assert_eq!(
        store
            .rotate_family(&s.family(), 0, &rotation(s, 1))
            .await
            .expect("rotate"),
        RotateOutcome::Rotated
    );
    assert!(store
        .revoke_family(&s.family(), r, &[e])
        .await
        .expect("revoke"));
    assert_eq!(store.poll_events("p2", 10).await.expect("poll").len(), 2);
    drop(store);
    assert!(redb_integrity(&path), "file is consistent after the panics");
}

/// Outside any Tokio runtime the calls run in place, and a panic is still
/// reported as an error rather than unwinding into the caller.
#[test]
fn calls_work_and_panics_are_caught_without_a_runtime() {
    let dir = tempfile::tempdir().expect("dir");
    let store = RedbStore::open(dir.path().join("plain.redb")).expect("open");
    let client = client_record(0, 0);
    block_on(store.insert_client(&client, &[])).expect("insert");
    assert_eq!(
        block_on(store.get_client(&client.id)).expect("get"),
        Some(client)
    );
    panic_at(&store, "ack_events", "commit");
    assert!(matches!(
        block_on(store.ack_events("c", 1)),
        Err(StorageError::Backend(_))
    ));
    store.clear_fault_hook();
    block_on(store.ack_events("c", 1)).expect("ack after panic");
}

/// Polls a future that completes without waiting (no runtime needed).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("store call waited without a runtime"),
    }
}

/// `Storage` is object-safe and implemented: the engine can hold the store
/// as `Arc<dyn Storage>`.
#[test]
fn store_is_a_storage_object() {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn Storage> =
        Arc::new(RedbStore::open(dir.path().join("dyn.redb")).expect("open"));
    drop(store);
}
