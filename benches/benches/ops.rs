//! Whole operations through the engine's endpoints on every backend, and
//! the physical floors they are judged against, in one run:
//! code flow (authorize, consent, exchange), refresh rotation,
//! introspection, client_credentials and revocation.
//!
//! `cargo bench -p latchkey-benches --bench ops`
//! (`LATCHKEY_BENCH_BACKENDS=memory,redb` to pick backends; PostgreSQL and
//! MySQL/MariaDB at 127.0.0.1 are skipped when unreachable, outside CI).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use latchkey::storage::Storage;
use latchkey_benches::backends::{open_or_skip, scratch_dir, Backend};
use latchkey_benches::floors::{FsyncFloor, PgFloor, RedbFloor};
use latchkey_benches::{BenchError, Fixture};
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn must<T>(r: Result<T, BenchError>) -> T {
    r.unwrap_or_else(|e| panic!("benchmark step failed: {e}"))
}

fn floors(c: &mut Criterion, rt: &Runtime) {
    let dir = must(scratch_dir("lk_bench_floor"));
    let mut g = c.benchmark_group("floor");
    g.sampling_mode(SamplingMode::Flat).sample_size(20);
    let mut fs = must(FsyncFloor::new(&dir));
    g.bench_function("fsync 256 B", |b| b.iter(|| must(fs.once())));
    let mut rf = must(RedbFloor::new(&dir));
    g.bench_function("redb commit (Immediate)", |b| b.iter(|| must(rf.once())));
    match rt.block_on(PgFloor::connect()) {
        Ok(pg) => {
            let pg = tokio::sync::Mutex::new(pg);
            g.bench_function("postgres round trip", |b| {
                b.to_async(rt)
                    .iter(|| async { must(pg.lock().await.once().await) })
            });
        }
        Err(e) if latchkey_benches::ci() => panic!("PostgreSQL unreachable in CI: {e}"),
        Err(e) => eprintln!("!!! SKIPPING the PostgreSQL floor: {e}"),
    }
    g.finish();
    drop((fs, rf));
    let _ = std::fs::remove_dir_all(dir);
}

fn operations<S: Storage + ?Sized + 'static>(
    c: &mut Criterion,
    rt: &Runtime,
    name: &str,
    store: Arc<S>,
) {
    let f = Arc::new(must(rt.block_on(Fixture::new(store))));
    let durable = name != "memory";
    let mut g = c.benchmark_group(format!("ops/{name}"));
    if durable {
        g.sampling_mode(SamplingMode::Flat).sample_size(10);
    }
    g.bench_function("code flow", |b| {
        b.to_async(rt).iter(|| async { must(f.code_flow().await) })
    });
    let first = must(rt.block_on(f.code_flow()));
    let live = Mutex::new(first.refresh.clone());
    g.bench_function("refresh", |b| {
        b.to_async(rt).iter(|| async {
            let rt_token = live.lock().expect("not poisoned").clone();
            let next = must(f.refresh(&rt_token).await);
            *live.lock().expect("not poisoned") = next.refresh;
        })
    });
    let access = first.access.clone();
    g.bench_function("introspection", |b| {
        b.to_async(rt)
            .iter(|| async { must(f.introspect(&access).await) })
    });
    g.bench_function("client_credentials", |b| {
        b.to_async(rt)
            .iter(|| async { must(f.client_credentials().await) })
    });
    // Each revocation needs a live family: made untimed before each batch.
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(if durable { 5 } else { 1 }));
    g.bench_function("revocation", |b| {
        b.to_async(rt).iter_custom(|iters| {
            let f = f.clone();
            async move {
                let mut fams = Vec::with_capacity(iters as usize);
                for _ in 0..iters {
                    fams.push(must(f.code_flow().await).refresh);
                }
                let t = Instant::now();
                for rtok in &fams {
                    must(f.revoke(rtok).await);
                }
                t.elapsed()
            }
        })
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rt = runtime();
    floors(&mut c, &rt);
    for backend in Backend::selected() {
        let Some(opened) = rt.block_on(open_or_skip(backend)) else {
            continue;
        };
        operations(&mut c, &rt, backend.name(), opened.store.clone());
        rt.block_on(opened.remove());
    }
    c.final_summary();
}
