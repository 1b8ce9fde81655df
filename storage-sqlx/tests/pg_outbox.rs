//! The outbox on PostgreSQL: commit-ordered sequence numbers, at-least-once
//! delivery through a consumer that is killed and restarted (also at the
//! worst moment, inside its `BEGIN`), and shared work through
//! `claim_events`.
#![cfg(feature = "postgres")]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::fixtures::{client, revocation, T0};
use latchkey::model::{EventKind, NewEvent, RevocationReason};
use latchkey::storage::{ClientStore, EventStore, PurgeStore, TokenStore};
use latchkey_sqlx::{sqlx, PgStore};

/// Appenders commit concurrently while a poller reads `seq > cursor`: the
/// poller must see a gap-free sequence (no event is committed later with a
/// lower number than one already read).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appenders_and_poller_never_skip() {
    let store = common::pg::fresh().await;
    let appenders = 8;
    let per = 300;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let s = store.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut cursor = 0u64;
            let mut seen = Vec::new();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let batch = s.poll_events("poller", 64).await.expect("poll");
                for e in &batch {
                    assert_eq!(e.seq, cursor + 1, "gap: read seq {} after {cursor}", e.seq);
                    cursor = e.seq;
                    if let EventKind::ClientCreated { client_id } = &e.kind {
                        seen.push(client_id.clone());
                    }
                }
                if let Some(last) = batch.last() {
                    s.ack_events("poller", last.seq).await.expect("ack");
                } else if finished {
                    return seen;
                } else {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        })
    };
    let mut tasks = Vec::new();
    for _ in 0..appenders {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..per {
                let c = client("acme");
                let e = NewEvent {
                    audit: latchkey::Audit::system(),
                    at: T0,
                    kind: EventKind::ClientCreated {
                        client_id: c.id.clone(),
                    },
                };
                s.insert_client(&c, &[e]).await.expect("insert");
                ids.push(c.id);
            }
            ids
        }));
    }
    let mut expected = BTreeSet::new();
    for t in tasks {
        expected.extend(t.await.expect("join"));
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = poller.await.expect("poller");
    assert_eq!(seen.len(), appenders * per, "every event read exactly once");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), expected);
}

/// 10,000 family revocations, each appending its event, while the consumer
/// is aborted and restarted three times: every event arrives at least once
/// and the events of each grant arrive in the order they were committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_revocations_survive_a_killed_consumer() {
    const GRANTS: usize = 100;
    const PER_GRANT: usize = 100;
    let store = common::pg::fresh().await;
    // Families are bulk-loaded; only the revocations go through the store.
    sqlx::query(
        "INSERT INTO lk_families (id, grant_id, client_id, subject, scopes, resources, generation, \
         current_hash, current_issued_at, current_expires_at, created_at, expires_at) \
         SELECT 'fam_' || g || '_' || i, 'grant_' || g, 'client', 'sub', 'profile:read', '[]', 0, \
         decode(md5('a' || g || '_' || i) || md5('b' || g || '_' || i), 'hex'), $1, $2, $1, $2 \
         FROM generate_series(0, $3 - 1) g, generate_series(0, $4 - 1) i",
    )
    .bind(T0.0 as i64)
    .bind(T0.plus(86_400).0 as i64)
    .bind(GRANTS as i64)
    .bind(PER_GRANT as i64)
    .execute(store.inner().pool())
    .await
    .expect("load families");

    let started = Instant::now();
    let mut writers = Vec::new();
    for w in 0..8usize {
        let s = store.clone();
        writers.push(tokio::spawn(async move {
            // Each grant is revoked in family order by one writer, so that
            // is its commit order; writers interleave across grants.
            for i in 0..PER_GRANT {
                for g in (w..GRANTS).step_by(8) {
                    let fid = format!("fam_{g}_{i}");
                    let e = NewEvent {
                        audit: latchkey::Audit::system(),
                        at: T0,
                        kind: EventKind::FamilyRevoked {
                            family_id: fid.clone(),
                            grant_id: format!("grant_{g}"),
                            client_id: "client".into(),
                            reason: RevocationReason::Requested,
                        },
                    };
                    assert!(s
                        .revoke_family(&fid, revocation(), &[e])
                        .await
                        .expect("revoke"));
                }
            }
        }));
    }

    let delivered: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let spawn_consumer = |s: Arc<_>, out: Arc<Mutex<Vec<(u64, String)>>>| {
        tokio::spawn(async move {
            let s: Arc<common::guarded::Guarded<PgStore>> = s;
            loop {
                let batch = s.poll_events("indexer", 100).await.expect("poll");
                if batch.is_empty() {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                }
                for e in &batch {
                    if let EventKind::FamilyRevoked { family_id, .. } = &e.kind {
                        out.lock().expect("lock").push((e.seq, family_id.clone()));
                    }
                    // Yield between handling and acknowledging, so an abort
                    // can land after delivery and before the ack.
                    tokio::task::yield_now().await;
                }
                s.ack_events("indexer", batch.last().expect("non-empty").seq)
                    .await
                    .expect("ack");
            }
        })
    };
    let mut consumer = spawn_consumer(store.clone(), delivered.clone());
    let mut kills = 0;
    for threshold in [2_000, 5_000, 8_000] {
        while delivered.lock().expect("lock").len() < threshold {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        consumer.abort();
        let _ = consumer.await;
        kills += 1;
        consumer = spawn_consumer(store.clone(), delivered.clone());
    }
    for w in writers {
        w.await.expect("writer");
    }
    let write_time = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let unique: BTreeSet<String> = delivered
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, f)| f.clone())
            .collect();
        if unique.len() == GRANTS * PER_GRANT {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of 10000 delivered",
            unique.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    consumer.abort();
    let all = delivered.lock().expect("lock").clone();

    // First delivery of each event, in delivery order.
    let mut first = Vec::new();
    let mut seen = BTreeSet::new();
    for (seq, fid) in &all {
        if seen.insert(seq) {
            first.push((*seq, fid.clone()));
        }
    }
    assert!(
        first.windows(2).all(|w| w[0].0 < w[1].0),
        "first deliveries come in seq order"
    );
    let mut per_grant: HashMap<String, Vec<usize>> = HashMap::new();
    for (_, fid) in &first {
        let mut parts = fid.trim_start_matches("fam_").split('_');
        let g = parts.next().expect("grant").to_owned();
        let i: usize = parts.next().expect("index").parse().expect("index");
        per_grant.entry(g).or_default().push(i);
    }
    assert_eq!(per_grant.len(), GRANTS);
    for (g, order) in &per_grant {
        assert_eq!(
            *order,
            (0..PER_GRANT).collect::<Vec<_>>(),
            "grant {g} out of order"
        );
    }
    println!(
        "outbox: 10000 revocations in {:.2?}; {kills} consumer kills; {} deliveries ({} redelivered)",
        write_time,
        all.len(),
        all.len() - first.len()
    );
}

/// Members of a group share events with `claim_events`: each event is
/// completed, a member that dies holding claims loses them when its lease
/// runs out, and purge keeps what the group has not completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claim_events_shares_work_and_survives_a_dead_member() {
    let store = common::pg::fresh().await;
    let pg = store.inner().clone();
    let total = 1_000usize;
    for _ in 0..total {
        let c = client("acme");
        let e = NewEvent {
            audit: latchkey::Audit::system(),
            at: T0,
            kind: EventKind::ClientCreated {
                client_id: c.id.clone(),
            },
        };
        pg.insert_client(&c, &[e]).await.expect("insert");
    }
    // A member claims a batch and dies without completing it.
    let lost = pg
        .claim_events("mailer", 100, Duration::from_millis(500))
        .await
        .expect("claim");
    assert_eq!(lost.len(), 100);
    let r = pg.purge_expired(T0, 10_000).await.expect("purge");
    assert_eq!(r.events, 0, "the group has completed nothing yet");

    let completed: Arc<Mutex<BTreeMap<u64, u32>>> = Arc::default();
    let mut members = Vec::new();
    for _ in 0..4 {
        let s = pg.clone();
        let done = completed.clone();
        members.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let batch = s
                    .claim_events("mailer", 25, Duration::from_secs(30))
                    .await
                    .expect("claim");
                if batch.is_empty() {
                    if done.lock().expect("lock").len() == total || Instant::now() > deadline {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                let seqs: Vec<u64> = batch.iter().map(|e| e.seq).collect();
                {
                    let mut d = done.lock().expect("lock");
                    for s in &seqs {
                        *d.entry(*s).or_default() += 1;
                    }
                }
                s.complete_events("mailer", &seqs).await.expect("complete");
            }
        }));
    }
    for m in members {
        m.await.expect("member");
    }
    let done = completed.lock().expect("lock").clone();
    assert_eq!(done.len(), total, "every event completed");
    assert!(
        lost.iter().all(|e| done.contains_key(&e.seq)),
        "the dead member's claims were handed out again"
    );
    let twice = done.values().filter(|n| **n > 1).count();
    println!("claim_events: {total} events over 4 members, {twice} processed twice");
    assert_eq!(
        twice, 0,
        "with leases longer than the run, nothing is processed twice"
    );
    let r = pg.purge_expired(T0, 10_000).await.expect("purge");
    assert_eq!(r.events as usize, total, "completed events are purged");
}

/// A consumer cancelled while its poll starts the numbering transaction
/// (the `BEGIN` ran, its answer was never read) must not leave that
/// transaction open on a pooled connection: a later write through the same
/// pool would run inside it, stay invisible although it returned, and be
/// numbered after writes committed later (the `grant 76 out of order`
/// failure of `ten_thousand_revocations_survive_a_killed_consumer`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_cancelled_in_begin_leaves_no_open_transaction() {
    let (name, url) = common::pg::create_db().await;
    let _drop = common::pg::DropDb(name);
    let opts: sqlx::postgres::PgConnectOptions = url.parse().expect("url");
    // One connection, so the cancelled poll's connection is the one reused,
    // and no liveness ping on acquire, so each step is one round trip.
    let one = PgStore::connect_with(
        PgStore::pool_options()
            .max_connections(1)
            .test_before_acquire(false),
        opts.clone(),
    )
    .await
    .expect("connect");
    one.migrate().await.expect("migrate");
    let other = PgStore::connect(&url).await.expect("connect");
    let created = |c: &latchkey::model::ClientRecord| NewEvent {
        audit: latchkey::Audit::system(),
        at: T0,
        kind: EventKind::ClientCreated {
            client_id: c.id.clone(),
        },
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(attempts <= 20, "never caught the poll inside BEGIN");
        // A pending event, so the poll goes on to number it.
        let c = client("acme");
        one.insert_client(&c, &[created(&c)]).await.expect("insert");
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(one.pool())
            .await
            .expect("pid");
        // Cancelled when the server ran its BEGIN but the poll has not
        // read the answer.
        let in_begin =
            "SELECT coalesce(bool_or(state = 'idle in transaction' AND query = 'BEGIN'), \
                        false) FROM pg_stat_activity WHERE pid = $1";
        if common::pg::cancel_when(one.poll_events("other", 10), other.pool(), pid, in_begin).await
        {
            break;
        }
    }
    // A write through the same pool returns, then a later one through
    // another pool: both must be committed, and numbered in that order.
    let first = client("acme");
    one.insert_client(&first, &[created(&first)])
        .await
        .expect("insert");
    let second = client("acme");
    other
        .insert_client(&second, &[created(&second)])
        .await
        .expect("insert");
    assert!(
        other.get_client(&first.id).await.expect("get").is_some(),
        "a write that returned is committed"
    );
    let order: Vec<String> = other
        .poll_events("order", 100)
        .await
        .expect("poll")
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::ClientCreated { client_id } => Some(client_id),
            _ => None,
        })
        .filter(|id| *id == first.id || *id == second.id)
        .collect();
    assert_eq!(order, vec![first.id, second.id], "numbered in commit order");
}
