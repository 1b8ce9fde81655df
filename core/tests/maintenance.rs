//! Background maintenance (feature `tokio`): purging on an interval, outbox
//! consumers with at-least-once delivery and back-off, and a prompt, honest
//! shutdown. Tokio time is paused, so intervals and back-off run instantly
//! and deterministically; the engine's own clock is the harness's manual
//! clock.
#![cfg(feature = "tokio")]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::faulty::Faulty;
use common::*;
use latchkey::maintenance::{Maintenance, MaintenanceConfig, MaintenanceReport};
use latchkey::model::Event;
use latchkey::storage::Storage;
use latchkey::Engine;
use tokio::time::{sleep, Instant};

fn config() -> MaintenanceConfig {
    let mut c = MaintenanceConfig::default();
    c.purge_interval = Duration::from_secs(10);
    c.poll_interval = Duration::from_secs(1);
    c.backoff_initial = Duration::from_millis(100);
    c.backoff_max = Duration::from_secs(2);
    c.shutdown_grace = Duration::from_secs(1);
    c
}

/// Every event `consumer` has not acknowledged yet.
async fn pending<S: Storage + ?Sized>(engine: &Engine<S>, consumer: &str) -> Vec<u64> {
    let events = engine.poll_events(consumer, 1000).await.unwrap();
    events.iter().map(|e| e.seq).collect()
}

fn seqs(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

/// Waits (in paused time) until `done` holds for the report, at most `max`.
async fn until(
    handle: &latchkey::maintenance::MaintenanceHandle,
    max: Duration,
    done: impl Fn(&MaintenanceReport) -> bool,
) -> MaintenanceReport {
    let end = Instant::now() + max;
    loop {
        let r = handle.report();
        if done(&r) {
            return r;
        }
        assert!(Instant::now() < end, "not reached within {max:?}: {r:?}");
        sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn expired_records_disappear_within_a_few_intervals() {
    let h = harness().await;
    let (at, _rt) = h.tokens("profile:read").await;
    h.code_for("profile:read", false).await; // never redeemed
    let handle = Maintenance::new(h.engine.clone(), config()).spawn();
    let r = until(&handle, Duration::from_secs(1), |r| r.purge_runs >= 1).await;
    assert_eq!(r.purged.total(), 0, "nothing has expired yet");
    assert!(h.active(&at).await);

    // Past every lifetime, refresh tokens (30 days) included.
    h.clock.advance(31 * 86_400);
    let r = until(&handle, Duration::from_secs(30), |r| {
        r.purged.families >= 1 && r.purged.codes >= 1
    })
    .await;
    assert!(r.purged.access_tokens >= 1, "{r:?}");
    let report = handle.shutdown().await;
    assert_eq!(report.storage_failures, 0);
    assert_eq!(
        h.engine.purge_expired(1000).await.unwrap().total(),
        0,
        "nothing expired is left behind"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_callback_sees_the_same_events_again_and_they_are_acked_after_success() {
    let h = harness().await;
    for _ in 0..3 {
        h.engine
            .rotate_client_secret(&operator(), &h.app.client.id)
            .await
            .unwrap();
    }
    let all = pending(&h.engine, "audit").await;
    assert!(all.len() >= 3, "{all:?}");

    let batches = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicU32::new(0));
    let engine = h.engine.clone();
    let (b, c) = (batches.clone(), calls.clone());
    let handle = Maintenance::new(h.engine.clone(), config())
        .without_purge()
        .consumer("audit", move |events: Vec<Event>| {
            let (b, c, engine) = (b.clone(), c.clone(), engine.clone());
            async move {
                // Nothing is acknowledged while the callback runs.
                let unacked = pending(&engine, "audit").await;
                b.lock().unwrap().push((seqs(&events), unacked));
                if c.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err("webhook endpoint answered 503")
                } else {
                    Ok(())
                }
            }
        })
        .spawn();
    let r = until(&handle, Duration::from_secs(10), |r| r.batches_acked >= 1).await;
    assert_eq!(r.callback_failures, 2);
    assert_eq!(r.events_acked, all.len() as u64);
    assert!(
        r.last_error.as_deref().unwrap().contains("503"),
        "{:?}",
        r.last_error
    );
    let seen = batches.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "two failures, then one success");
    for (batch, unacked) in &seen {
        assert_eq!(batch, &all, "the same events every time");
        assert_eq!(unacked, &all, "not acked before the callback returned");
    }
    assert!(
        pending(&h.engine, "audit").await.is_empty(),
        "acked after success"
    );
    let report = handle.shutdown().await;
    assert_eq!(report.batches_acked, 1, "no second delivery after the ack");
}

#[tokio::test(start_paused = true)]
async fn events_arrive_in_seq_order_across_batches() {
    let h = harness().await;
    for _ in 0..4 {
        h.engine
            .rotate_client_secret(&operator(), &h.app.client.id)
            .await
            .unwrap();
    }
    let mut c = config();
    c.event_batch = 2;
    let batches = Arc::new(Mutex::new(Vec::new()));
    let b = batches.clone();
    let handle = Maintenance::new(h.engine.clone(), c)
        .without_purge()
        .consumer("search-index", move |events: Vec<Event>| {
            b.lock().unwrap().push(seqs(&events));
            async { Ok::<_, std::io::Error>(()) }
        })
        .spawn();
    let first = pending(&h.engine, "x").await.len() as u64;
    until(&handle, Duration::from_secs(10), |r| {
        r.events_acked == first
    })
    .await;
    // More events while it runs are picked up after the poll interval.
    for _ in 0..3 {
        h.engine
            .rotate_client_secret(&operator(), &h.app.client.id)
            .await
            .unwrap();
    }
    until(&handle, Duration::from_secs(10), |r| {
        r.events_acked == first + 3
    })
    .await;
    handle.shutdown().await;

    let batches = batches.lock().unwrap().clone();
    assert!(
        batches.iter().all(|b| !b.is_empty() && b.len() <= 2),
        "{batches:?}"
    );
    let flat: Vec<u64> = batches.concat();
    assert!(
        flat.windows(2).all(|w| w[0] < w[1]),
        "in order, no repeats: {flat:?}"
    );
    assert_eq!(flat, pending(&h.engine, "y").await, "every event, once");
}

/// Sets its flag when dropped: tells whether an abandoned callback was
/// really stopped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_is_prompt_while_a_callback_hangs_and_does_not_ack_its_batch() {
    let h = harness().await;
    let all = pending(&h.engine, "hook").await;
    assert!(!all.is_empty());
    let started = Arc::new(tokio::sync::Notify::new());
    let dropped = Arc::new(AtomicBool::new(false));
    let (s, d) = (started.clone(), dropped.clone());
    let handle = Maintenance::new(h.engine.clone(), config())
        .consumer("hook", move |_events: Vec<Event>| {
            let (s, guard) = (s.clone(), DropFlag(d.clone()));
            async move {
                let _guard = guard;
                s.notify_one();
                std::future::pending::<()>().await;
                Ok::<_, std::io::Error>(())
            }
        })
        .spawn();
    started.notified().await;
    let t0 = Instant::now();
    let report = handle.shutdown().await;
    let waited = t0.elapsed();
    assert!(
        waited <= Duration::from_millis(1100),
        "bounded by the 1 s grace: {waited:?}"
    );
    assert_eq!(report.abandoned, 1, "{report:?}");
    assert_eq!(report.batches_acked, 0);
    assert!(
        dropped.load(Ordering::SeqCst),
        "the hung callback was aborted"
    );
    assert_eq!(
        pending(&h.engine, "hook").await,
        all,
        "delivered again next time"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_a_slow_batch_finish_within_the_grace_period() {
    let h = harness().await;
    let started = Arc::new(tokio::sync::Notify::new());
    let s = started.clone();
    let handle = Maintenance::new(h.engine.clone(), config())
        .without_purge()
        .consumer("hook", move |_events: Vec<Event>| {
            let s = s.clone();
            async move {
                s.notify_one();
                sleep(Duration::from_millis(500)).await;
                Ok::<_, std::io::Error>(())
            }
        })
        .spawn();
    started.notified().await;
    let report = handle.shutdown().await;
    assert_eq!(
        (report.batches_acked, report.abandoned),
        (1, 0),
        "{report:?}"
    );
    assert!(pending(&h.engine, "hook").await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_leaves_no_task_running() {
    let store = Arc::new(latchkey::MemoryStore::new());
    let h = harness_on(store.clone()).await;
    let baseline = Arc::strong_count(&store);
    let handle = Maintenance::new(h.engine.clone(), config())
        .consumer("hook", |_events: Vec<Event>| async {
            sleep(Duration::from_secs(3600)).await;
            Ok::<_, std::io::Error>(())
        })
        .spawn();
    sleep(Duration::from_millis(100)).await;
    assert!(
        Arc::strong_count(&store) > baseline,
        "tasks hold the engine"
    );
    drop(handle);
    // Within the grace period (1 s), every task let go of the engine.
    sleep(Duration::from_millis(1100)).await;
    assert_eq!(Arc::strong_count(&store), baseline);
}

#[tokio::test(start_paused = true)]
async fn storage_failure_backs_off_and_recovers() {
    let store = Arc::new(Faulty::default());
    let h = harness_on(store.clone()).await;
    let (_at, _rt) = h.tokens("profile:read").await;
    let all = pending(&h.engine, "hook").await;
    h.clock.advance(31 * 86_400);
    store.set(1);
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let d = delivered.clone();
    let handle = Maintenance::new(h.engine.clone(), config())
        .consumer("hook", move |events: Vec<Event>| {
            d.lock().unwrap().extend(seqs(&events));
            async { Ok::<_, std::io::Error>(()) }
        })
        .spawn();
    sleep(Duration::from_secs(20)).await;
    let r = handle.report();
    // Two tasks (purge, consumer) failing for 20 s. Back-off from 100 ms
    // doubling to a 2 s cap, with at least half of each pause fixed, allows
    // at most 5 + 20 / 1 = 25 attempts per task; without back-off they
    // would retry without pause, and a polling loop 20 times at least.
    assert!(
        (10..=50).contains(&r.storage_failures),
        "{}",
        r.storage_failures
    );
    assert!(
        r.last_error
            .as_deref()
            .unwrap()
            .contains("connection refused"),
        "{:?}",
        r.last_error
    );
    assert!(delivered.lock().unwrap().is_empty());
    assert_eq!((r.purge_runs, r.batches_acked), (0, 0));

    store.set(0);
    // The longest pause is the cap (2 s); then both recover.
    let r = until(&handle, Duration::from_secs(3), |r| {
        r.purge_runs >= 1 && r.events_acked >= all.len() as u64
    })
    .await;
    assert!(r.purged.families >= 1, "{r:?}");
    handle.shutdown().await;
    assert_eq!(*delivered.lock().unwrap(), all);
    assert!(pending(&h.engine, "hook").await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_panicking_callback_is_a_failure_and_its_events_come_again() {
    let h = harness().await;
    let all = pending(&h.engine, "hook").await;
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let handle = Maintenance::new(h.engine.clone(), config())
        .without_purge()
        .consumer("hook", move |events: Vec<Event>| {
            let c = c.clone();
            async move {
                if c.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("bug in the host's consumer ({} events)", events.len());
                }
                Ok::<_, std::io::Error>(())
            }
        })
        .spawn();
    let r = until(&handle, Duration::from_secs(5), |r| r.batches_acked == 1).await;
    assert_eq!(r.callback_failures, 1, "{r:?}");
    assert_eq!(r.events_acked, all.len() as u64);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    handle.shutdown().await;
}

#[tokio::test]
#[should_panic(expected = "outbox consumer \"hook\" added twice")]
async fn a_consumer_name_is_one_cursor_and_cannot_be_added_twice() {
    let h = harness().await;
    let ok = |_events: Vec<Event>| async { Ok::<_, std::io::Error>(()) };
    let _ = Maintenance::new(h.engine.clone(), config())
        .consumer("hook", ok)
        .consumer("hook", ok);
}

#[tokio::test(start_paused = true)]
async fn expired_browser_sessions_are_purged_too() {
    use latchkey::web::{SessionConfig, Sessions, StorageSessionStore};
    let h = harness().await;
    let store = Arc::new(latchkey::MemoryStore::new());
    let sessions = Arc::new(
        Sessions::new(
            Arc::new(StorageSessionStore::new(store)),
            SessionConfig::for_issuer(ISSUER),
        )
        .with_clock(h.clock.clone()),
    );
    let (anon, _) = sessions.load_or_create_from_header(None).await.unwrap();
    // Only a signed-in session is stored (an anonymous one is in its cookie).
    let (old, _) = sessions.sign_in(&anon, "alice").await.unwrap();
    let handle = Maintenance::new(h.engine.clone(), config())
        .sessions(sessions.clone())
        .spawn();
    let r = until(&handle, Duration::from_secs(1), |r| r.purge_runs >= 1).await;
    assert_eq!(r.sessions_purged, 0, "the session is fresh");
    // Past the idle timeout (and the absolute lifetime).
    h.clock.advance(31 * 86_400);
    let r = until(&handle, Duration::from_secs(30), |r| r.sessions_purged >= 1).await;
    assert_eq!(r.sessions_purged, 1);
    handle.shutdown().await;
    let cookie = sessions.cookie_header(&old);
    assert!(
        sessions
            .load_from_header(Some(&cookie))
            .await
            .unwrap()
            .is_none(),
        "the expired session is gone"
    );
}

/// With open registration, a self-registered client that nobody approved
/// within the policy's `unused_ttl` is deleted by the purge task.
#[tokio::test(start_paused = true)]
async fn unused_registrations_are_purged() {
    let h = common::harness_with_registration().await;
    let req = latchkey::http::HttpRequest {
        method: "POST".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}"#
            .to_vec(),
        ..Default::default()
    };
    let r = h.engine.register(&req).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json_body()["client_id"].as_str().unwrap().to_owned();
    let handle = Maintenance::new(h.engine.clone(), config()).spawn();
    let r = until(&handle, Duration::from_secs(1), |r| r.purge_runs >= 1).await;
    assert_eq!(r.registrations_purged, 0, "still young");
    assert!(h.engine.get_client(&id).await.is_ok());
    h.clock.advance(86_401);
    let r = until(&handle, Duration::from_secs(30), |r| {
        r.registrations_purged >= 1
    })
    .await;
    assert_eq!(r.registrations_purged, 1);
    handle.shutdown().await;
    assert!(h.engine.get_client(&id).await.is_err(), "deleted");
}

/// Finds nothing anywhere: every proof is gone.
struct NothingPublished;

#[async_trait::async_trait]
impl latchkey::domains::DomainVerifier for NothingPublished {
    async fn check(
        &self,
        _: &str,
        _: &str,
    ) -> Result<latchkey::domains::Found, latchkey::domains::VerifyError> {
        use latchkey::domains::{Failure, Method, VerifyError};
        Err(VerifyError::one(Method::DnsTxt, Failure::NotPublished))
    }
}

#[tokio::test(start_paused = true)]
async fn domain_rechecks_run_on_their_interval_and_lapse_what_is_gone() {
    let h = harness().await;
    let id = h.app.client.id.clone();
    h.engine
        .start_domain_verification(&operator(), &id, "app.example")
        .await
        .unwrap();
    h.engine
        .confirm_domain(&operator(), &id, "app.example")
        .await
        .unwrap();
    let policy = latchkey::domains::RecheckPolicy {
        interval: 60,
        grace: 600,
    };
    let mut c = config();
    c.recheck_interval = Duration::from_secs(30);
    let handle = Maintenance::new(h.engine.clone(), c)
        .without_purge()
        .domain_rechecks(Arc::new(NothingPublished), policy)
        .spawn();
    // Not due yet: runs check nothing.
    let r = until(&handle, Duration::from_secs(120), |r| r.recheck_runs >= 2).await;
    assert_eq!(r.domains_checked, 0);
    h.clock.advance(60);
    let r = until(&handle, Duration::from_secs(120), |r| r.domains_lapsed == 1).await;
    assert_eq!(r.domains_checked, 1);
    let client = h.engine.get_client(&id).await.unwrap();
    assert!(client.domains[0].is_lapsed());
    handle.shutdown().await;
}
