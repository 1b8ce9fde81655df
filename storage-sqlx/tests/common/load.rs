//! A token workload for load tests on PostgreSQL: tasks that rotate,
//! look up and redeem through the store, timing every call, and a sampler
//! that watches `pg_stat_activity` for workload queries waiting on a lock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use latchkey::storage::{CodeStore, GrantStore, RedeemOutcome, RotateOutcome, TokenStore};
use latchkey_sqlx::{sqlx, PgStore};

use super::fixtures::{approval, code, issuance, issued_family, rotation, summary, T0};

/// Latencies (ms) per operation name, and the longest lock wait seen.
#[derive(Default, Debug)]
pub struct LoadReport {
    pub latencies: BTreeMap<&'static str, Vec<f64>>,
    /// Calls over 50 ms: (op, started at ms after the workload began, ms).
    pub slow: Vec<(&'static str, f64, f64)>,
    pub max_lock_wait_ms: f64,
    /// The longest-waiting statement, the lock it waited for and the
    /// statements of the sessions holding that lock.
    pub lock_wait_query: String,
    /// Samples of a waiting workload statement, by the lock it waited for
    /// (`transactionid ShareLock`, `tuple ExclusiveLock on lk_…`).
    pub waited_for: BTreeMap<String, usize>,
    /// Samples of a waiting workload statement, by a holder of its lock:
    /// backend type, what that holder was waiting on, its statement.
    pub held_by: BTreeMap<String, usize>,
}

/// What the lock-wait sampler saw.
#[derive(Default)]
pub struct Sampled {
    /// The longest wait of one statement, in ms.
    pub worst_ms: f64,
    /// That statement, the lock it waited for and who held it.
    pub worst: String,
    /// Samples of a waiting statement, by the lock it waited for.
    pub waited_for: BTreeMap<String, usize>,
    /// Samples of a waiting statement, by a holder of its lock.
    pub held_by: BTreeMap<String, usize>,
}

/// Watches `pg_stat_activity` every 5 ms, on its own connection, for
/// statements of this database waiting on a heavyweight lock.
pub struct LockSampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Sampled>,
}

impl LockSampler {
    /// Starts sampling the sessions for which `watch` (a condition on
    /// `pg_stat_activity a`) holds.
    pub async fn start(pool: sqlx::PgPool, watch: &'static str) -> LockSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let mut conn = pool.acquire().await.expect("sampler connection");
        let task = tokio::spawn(async move {
            let mut seen_waits = Sampled::default();
            // (pid, statement start) -> when this sampler first saw it waiting.
            // The wait is measured from that first sighting, not from the
            // statement's start: under CPU load a statement can run a while
            // before it queues on a lock, and that time is not lock waiting.
            let mut waiting: std::collections::HashMap<(i32, String), Instant> =
                std::collections::HashMap::new();
            while !st.load(Ordering::Relaxed) {
                // Watched statements waiting on a heavyweight lock. Waits that
                // end before a second sample (5 ms apart) read as 0 ms. Each
                // row also names the lock it waits for and the statements of
                // the sessions holding it, so a failure names the culprit.
                let rows: Vec<(i32, String, String, String, String)> = sqlx::query_as(&format!(
                    "SELECT a.pid, a.query_start::text, left(a.query, 60), \
                       COALESCE((SELECT string_agg(l.locktype || ' ' || l.mode || \
                         COALESCE(' on ' || l.relation::regclass::text, ''), ', ') \
                         FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted), '?'), \
                       COALESCE((SELECT string_agg(b.backend_type || ' (' || COALESCE(b.wait_event_type || '/' || b.wait_event, 'on CPU') || '): ' || \
                         left(b.query, 45), ' | ') FROM pg_stat_activity b WHERE b.pid = ANY(pg_blocking_pids(a.pid))), '?') \
                     FROM pg_stat_activity a WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() \
                     AND a.wait_event_type = 'Lock' AND ({watch})",
                ))
                .fetch_all(&mut *conn)
                .await
                .expect("sample");
                let now = Instant::now();
                let mut seen = std::collections::HashSet::new();
                for (pid, started, q, wants, held_by) in rows {
                    let since = *waiting.entry((pid, started.clone())).or_insert(now);
                    seen.insert((pid, started));
                    let ms = now.duration_since(since).as_secs_f64() * 1000.0;
                    *seen_waits.waited_for.entry(wants.clone()).or_default() += 1;
                    for b in held_by.split(" | ") {
                        *seen_waits.held_by.entry(b.to_owned()).or_default() += 1;
                    }
                    if ms >= seen_waits.worst_ms {
                        seen_waits.worst_ms = ms;
                        seen_waits.worst = format!("{q} [waits for {wants}; held by {held_by}]");
                    }
                }
                waiting.retain(|k, _| seen.contains(k));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            seen_waits
        });
        LockSampler { stop, task }
    }

    /// Stops sampling and reports.
    pub async fn stop(self) -> Sampled {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("sampler")
    }
}

impl LoadReport {
    /// Prints count, p50, p99, max per operation.
    pub fn print(&self, title: &str) {
        println!("{title}");
        for (op, v) in &self.latencies {
            let (n, p50, p99, max) = summary(v.clone());
            println!("  {op:<20} n={n:<6} p50={p50:>7.2} ms  p99={p99:>7.2} ms  max={max:>7.2} ms");
        }
        // The 20 slowest calls, in time order.
        let mut slow = self.slow.clone();
        slow.sort_by(|a, b| b.2.total_cmp(&a.2));
        let more = slow.len().saturating_sub(20);
        slow.truncate(20);
        slow.sort_by(|a, b| a.1.total_cmp(&b.1));
        for (op, at, ms) in slow {
            println!("  slow: {op} at +{at:.0} ms took {ms:.1} ms");
        }
        if more > 0 {
            println!("  ({more} more calls over 50 ms)");
        }
        println!(
            "  longest lock wait of a workload query: {:.1} ms {}",
            self.max_lock_wait_ms, self.lock_wait_query
        );
        for (lock, n) in &self.waited_for {
            println!("  waited for {lock}: {n} samples");
        }
        for (holder, n) in &self.held_by {
            println!("  lock held by {holder}: {n} samples");
        }
    }

    /// Worst latency over every operation.
    pub fn max_ms(&self) -> f64 {
        self.latencies
            .values()
            .flatten()
            .copied()
            .fold(0.0, f64::max)
    }

    /// p99 over every operation.
    pub fn p99_ms(&self) -> f64 {
        summary(self.latencies.values().flatten().copied().collect()).2
    }
}

/// Timed calls of one worker: (operation, started at ms, took ms).
type Timings = Vec<(&'static str, f64, f64)>;

/// A running workload; [`Workload::stop`] ends it and collects the report.
pub struct Workload {
    /// When the workload began (for placing slow calls in time).
    pub began: Instant,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Timings>>,
    sampler: LockSampler,
}

impl Workload {
    /// Starts `tasks` workers on `store` and a lock-wait sampler on its own
    /// connection.
    pub async fn start(store: Arc<PgStore>, tasks: usize) -> Workload {
        let stop = Arc::new(AtomicBool::new(false));
        let began = Instant::now();
        let mut handles = Vec::new();
        for t in 0..tasks {
            let s = store.clone();
            let stop = stop.clone();
            let (grant, iss) = issued_family(&*s, &format!("user{t}")).await;
            handles.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut family = iss.family;
                let mut current = family.current.hash;
                let mut generation = 0u64;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let r = rotation(&family, current, (i % 250) as u8);
                    let t0 = Instant::now();
                    let out = s
                        .rotate_family(&family.id, generation, &r)
                        .await
                        .expect("rotate under load");
                    lat.push((
                        "rotate_family",
                        (t0 - began).as_secs_f64() * 1e3,
                        t0.elapsed().as_secs_f64() * 1e3,
                    ));
                    assert_eq!(out, RotateOutcome::Rotated);
                    generation += 1;
                    current = r.current.hash;
                    let t0 = Instant::now();
                    let v = s
                        .find_access_token(&r.access.hash)
                        .await
                        .expect("find under load");
                    lat.push((
                        "find_access_token",
                        (t0 - began).as_secs_f64() * 1e3,
                        t0.elapsed().as_secs_f64() * 1e3,
                    ));
                    assert!(v.is_some());
                    let t0 = Instant::now();
                    let f = s
                        .find_refresh_token(&current)
                        .await
                        .expect("find rt under load");
                    lat.push((
                        "find_refresh_token",
                        (t0 - began).as_secs_f64() * 1e3,
                        t0.elapsed().as_secs_f64() * 1e3,
                    ));
                    assert!(f.is_some());
                    if i % 5 == 0 {
                        // A new authorization on the same grant, then its exchange.
                        let c = code(&grant);
                        let t0 = Instant::now();
                        let mut a = approval(&grant, &c);
                        // A fresh candidate id, as the engine draws one.
                        a.new_grant_id = format!("{}-{t}-{i}", grant.id);
                        s.approve(&a).await.expect("approve under load");
                        lat.push((
                            "approve",
                            (t0 - began).as_secs_f64() * 1e3,
                            t0.elapsed().as_secs_f64() * 1e3,
                        ));
                        let iss = issuance(&c);
                        let t0 = Instant::now();
                        let out = s
                            .redeem_code(&c.hash, T0, &iss)
                            .await
                            .expect("redeem under load");
                        lat.push((
                            "redeem_code",
                            (t0 - began).as_secs_f64() * 1e3,
                            t0.elapsed().as_secs_f64() * 1e3,
                        ));
                        assert_eq!(out, RedeemOutcome::Issued);
                        family = iss.family;
                        current = family.current.hash;
                        generation = 0;
                    }
                }
                lat
            }));
        }
        // The migration's own waits are excluded: they are bounded by
        // lock_timeout and wait for it, not for the workload.
        let sampler = LockSampler::start(
            store.pool().clone(),
            "a.query NOT ILIKE '%INDEX%' AND a.query NOT ILIKE 'ALTER TABLE%' \
             AND a.query NOT ILIKE '%lk_schema_migrations%'",
        )
        .await;
        Workload {
            began,
            stop,
            tasks: handles,
            sampler,
        }
    }

    /// Stops every worker (a worker that failed panics here) and reports.
    pub async fn stop(self) -> LoadReport {
        self.stop.store(true, Ordering::SeqCst);
        collect(self.tasks, self.sampler).await
    }
}

/// Code flows through a real engine: workers that authorize (with
/// consent), exchange the code, then refresh and introspect in turn,
/// timing every call, while a [`LockSampler`] watches the sessions for
/// which `watch` holds (give the engine's pool its own
/// `application_name` to pick them out).
pub struct EngineWorkload {
    /// When the workload began.
    pub began: Instant,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Timings>>,
    sampler: LockSampler,
}

impl EngineWorkload {
    /// Starts `tasks` workers on `engine` (whose client is registered),
    /// sampling lock waits through `pool`.
    pub async fn start(
        engine: latchkey::Engine<PgStore>,
        pool: sqlx::PgPool,
        tasks: usize,
        watch: &'static str,
    ) -> EngineWorkload {
        use super::engine::{active, code_as, exchange_req, refresh_req};
        let stop = Arc::new(AtomicBool::new(false));
        let began = Instant::now();
        let sampler = LockSampler::start(pool, watch).await;
        let mut handles = Vec::new();
        for t in 0..tasks {
            let e = engine.clone();
            let stop = stop.clone();
            handles.push(tokio::spawn(async move {
                let subject = format!("user{t}");
                let mut lat: Timings = Vec::new();
                let mut timed = |op: &'static str, t0: Instant| {
                    lat.push((
                        op,
                        (t0 - began).as_secs_f64() * 1e3,
                        t0.elapsed().as_secs_f64() * 1e3,
                    ));
                };
                while !stop.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    let code = code_as(&e, &e, &subject).await;
                    timed("authorize+consent", t0);
                    let t0 = Instant::now();
                    let r = e.token(&exchange_req(&code)).await;
                    timed("exchange", t0);
                    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                    let j = r.json_body();
                    let mut rt = j["refresh_token"].as_str().expect("rt").to_owned();
                    let mut at = j["access_token"].as_str().expect("at").to_owned();
                    for _ in 0..3 {
                        let t0 = Instant::now();
                        assert!(active(&e, &at).await, "a fresh token is active");
                        timed("introspect", t0);
                        let t0 = Instant::now();
                        let r = e.token(&refresh_req(&rt)).await;
                        timed("refresh", t0);
                        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                        let j = r.json_body();
                        rt = j["refresh_token"].as_str().expect("rt").to_owned();
                        at = j["access_token"].as_str().expect("at").to_owned();
                    }
                }
                lat
            }));
        }
        EngineWorkload {
            began,
            stop,
            tasks: handles,
            sampler,
        }
    }

    /// Stops every worker (a worker that failed panics here) and reports.
    pub async fn stop(self) -> LoadReport {
        self.stop.store(true, Ordering::SeqCst);
        collect(self.tasks, self.sampler).await
    }
}

/// Joins the workers (a worker that failed panics here), stops the
/// sampler, and reports.
async fn collect(tasks: Vec<tokio::task::JoinHandle<Timings>>, sampler: LockSampler) -> LoadReport {
    let mut report = LoadReport::default();
    for t in tasks {
        for (op, at, ms) in t.await.expect("a workload task failed") {
            report.latencies.entry(op).or_default().push(ms);
            if ms > 50.0 {
                report.slow.push((op, at, ms));
            }
        }
    }
    let sampled = sampler.stop().await;
    report.max_lock_wait_ms = sampled.worst_ms;
    report.lock_wait_query = sampled.worst;
    report.waited_for = sampled.waited_for;
    report.held_by = sampled.held_by;
    report
}
