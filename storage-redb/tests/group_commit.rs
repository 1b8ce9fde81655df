//! Group commit: concurrent state changes share one durable commit, each
//! keeps its own atomicity (a failing or panicking call in a batch leaves
//! no trace and does not disturb the others), and readers never see a
//! change before it is durable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use latchkey::clock::Timestamp;
use latchkey::conformance::sample_client;
use latchkey::model::{AccessTokenRecord, EventKind, NewEvent};
use latchkey::scope::ScopeSet;
use latchkey::storage::{
    ClientStore as _, EventStore as _, PurgeStore as _, StorageError, TokenStore as _,
};
use latchkey::token::TokenHash;
use latchkey_redb::RedbStore;

const T0: Timestamp = Timestamp(1_700_000_000);

fn created(client_id: &str) -> NewEvent {
    NewEvent {
        at: T0,
        kind: EventKind::ClientCreated {
            client_id: client_id.to_owned(),
        },
        audit: latchkey::Audit::system(),
    }
}

fn token(n: u8) -> AccessTokenRecord {
    AccessTokenRecord {
        hash: TokenHash([n; 32]),
        family_id: None,
        client_id: "svc".into(),
        subject: "svc".into(),
        scopes: ScopeSet::parse("dns:read").expect("scopes"),
        resources: vec![],
        issued_at: T0,
        expires_at: T0.plus(300),
        revoked_at: None,
    }
}

/// A gate a fault hook can stop the writer thread at: `wait` announces the
/// stop and blocks until `open` is called.
#[derive(Clone)]
struct Gate {
    stopped: Arc<Mutex<mpsc::Sender<()>>>,
    go: Arc<Mutex<mpsc::Receiver<()>>>,
}

struct GateControl {
    stopped: mpsc::Receiver<()>,
    go: mpsc::Sender<()>,
}

fn gate() -> (Gate, GateControl) {
    let (stopped_tx, stopped_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    (
        Gate {
            stopped: Arc::new(Mutex::new(stopped_tx)),
            go: Arc::new(Mutex::new(go_rx)),
        },
        GateControl {
            stopped: stopped_rx,
            go: go_tx,
        },
    )
}

impl Gate {
    fn wait(&self) {
        self.stopped
            .lock()
            .expect("lock")
            .send(())
            .expect("announce");
        self.go.lock().expect("lock").recv().expect("go");
    }
}

impl GateControl {
    /// Waits (off the async workers) until the writer stopped at the gate.
    async fn stopped(self) -> Self {
        tokio::task::spawn_blocking(move || {
            self.stopped
                .recv_timeout(Duration::from_secs(10))
                .expect("the writer never reached the gate");
            self
        })
        .await
        .expect("join")
    }

    fn open(&self) {
        self.go.send(()).expect("open the gate");
    }
}

/// While the writer is held inside one call, 60 more queue up: 50 client
/// inserts (each with its event), a duplicate insert and a stale update
/// (refused), and 8 revocations that panic between marking the token and
/// appending the event. Released, they are committed with a handful of
/// fsyncs; every good call is there with its event, every refused or
/// panicked one left nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_share_a_commit_and_fail_alone() {
    let dir = tempfile::tempdir().expect("dir");
    let store = RedbStore::open(dir.path().join("group.redb")).expect("open");
    let existing = sample_client("alice");
    store
        .insert_client(&existing, &[created(&existing.id)])
        .await
        .expect("insert");
    for n in 0..8 {
        store.insert_access_token(&token(n)).await.expect("token");
    }
    let before = store.poll_events("audit", 1000).await.expect("poll");
    store
        .ack_events("audit", before.last().expect("event").seq)
        .await
        .expect("ack");

    let (g, control) = gate();
    let first = Arc::new(AtomicBool::new(true));
    store.set_fault_hook(move |op, stage| {
        if op == "insert_client" && stage == "commit" && first.swap(false, Ordering::SeqCst) {
            g.wait();
        }
        if op == "revoke_access_token" && stage == "mid" {
            panic!("injected panic in a batch");
        }
    });
    let blocker = sample_client("alice");
    let held = {
        let (s, c) = (store.clone(), blocker.clone());
        tokio::spawn(async move { s.insert_client(&c, &[created(&c.id)]).await })
    };
    let control = control.stopped().await;
    let commits_before = store.durable_commits();

    let mut good = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let c = sample_client("bob");
        good.push(c.id.clone());
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.insert_client(&c, &[created(&c.id)]).await.map(|()| i)
        }));
        if i % 10 == 0 {
            // The refused and panicking calls sit between good ones.
            let (s, dup) = (store.clone(), existing.clone());
            tasks.push(tokio::spawn(async move {
                match s.insert_client(&dup, &[created("dup")]).await {
                    Err(StorageError::Conflict) => Ok(usize::MAX),
                    other => panic!("duplicate insert: {other:?}"),
                }
            }));
        }
    }
    let stale = {
        let (s, mut c) = (store.clone(), existing.clone());
        c.name = "stale".into();
        tokio::spawn(async move { s.update_client(&c, 7, &[created("stale")]).await })
    };
    let panicking: Vec<_> = (0..8)
        .map(|n| {
            let s = store.clone();
            tokio::spawn(async move {
                s.revoke_access_token(&TokenHash([n; 32]), T0, &[created("revoked")])
                    .await
            })
        })
        .collect();
    // Let every call reach the queue, then release the writer.
    tokio::time::sleep(Duration::from_millis(300)).await;
    control.open();

    held.await.expect("join").expect("held insert");
    for t in tasks {
        t.await.expect("join").expect("call");
    }
    assert!(matches!(
        stale.await.expect("join"),
        Err(StorageError::Conflict)
    ));
    for p in panicking {
        let r = p.await.expect("join");
        assert!(matches!(r, Err(StorageError::Backend(_))), "{r:?}");
    }
    let commits = store.durable_commits() - commits_before;
    println!("66 calls queued behind one: {commits} durable commits");
    assert!(
        commits <= 4,
        "{commits} durable commits for 66 queued calls: not batched"
    );

    store.clear_fault_hook();
    for id in &good {
        assert!(store.get_client(id).await.expect("get").is_some(), "{id}");
    }
    assert_eq!(
        store
            .get_client(&existing.id)
            .await
            .expect("get")
            .expect("existing")
            .name,
        existing.name,
        "the stale update changed nothing"
    );
    for n in 0..8 {
        let t = store
            .find_access_token(&TokenHash([n; 32]))
            .await
            .expect("find")
            .expect("token");
        assert_eq!(t.token.revoked_at, None, "a panicked revocation applied");
    }
    let events = store.poll_events("audit", 1000).await.expect("poll");
    let mut ids: Vec<String> = events
        .iter()
        .map(|e| match &e.kind {
            EventKind::ClientCreated { client_id } => client_id.clone(),
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    for w in events.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "event numbers without a gap");
    }
    assert_eq!(ids.remove(0), blocker.id);
    ids.sort();
    good.sort();
    assert_eq!(ids, good, "one event per good call, none of the others");
}

/// A change committed inside a batch is not visible to readers until the
/// batch is durable: the writer is held after the first call of a batch
/// committed (without fsync), and a read then still misses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_see_only_durable_changes() {
    let dir = tempfile::tempdir().expect("dir");
    let store = RedbStore::open(dir.path().join("visible.redb")).expect("open");
    let (g1, c1) = gate();
    let (g2, c2) = gate();
    store.set_fault_hook(move |op, stage| match (op, stage) {
        ("ack_events", "commit") => g1.wait(),
        ("purge_expired", "commit") => g2.wait(),
        _ => {}
    });
    // Holds the writer so the next two calls form one batch.
    let blocker = {
        let s = store.clone();
        tokio::spawn(async move { s.ack_events("blocker", 1).await })
    };
    let c1 = c1.stopped().await;
    let client = sample_client("alice");
    let insert = {
        let (s, c) = (store.clone(), client.clone());
        tokio::spawn(async move { s.insert_client(&c, &[]).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Last in the batch; the hook holds it after the insert committed.
    let purge = {
        let s = store.clone();
        tokio::spawn(async move { s.purge_expired(T0, 10).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    c1.open();
    let c2 = c2.stopped().await;
    assert_eq!(
        store.get_client(&client.id).await.expect("get"),
        None,
        "a read saw a change that is not on disk yet"
    );
    c2.open();
    blocker.await.expect("join").expect("blocker");
    insert.await.expect("join").expect("insert");
    purge.await.expect("join").expect("purge");
    assert_eq!(
        store.get_client(&client.id).await.expect("get"),
        Some(client),
        "the change is visible once its call returned"
    );
}
