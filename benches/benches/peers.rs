//! Latchkey on its memory store against oxide-auth, in the same process
//! and run, interleaved: every round runs each operation on both sides
//! back to back (alternating which goes first), and the report gives the
//! median of the rounds and the ratio. See `latchkey_benches::peer` for
//! what makes the two sides do the same work.
//!
//! `cargo bench -p latchkey-benches --bench peers`
//! (`LATCHKEY_BENCH_ROUNDS`, default 9; `LATCHKEY_BENCH_ITERS`, operations
//! per side per round, default 3000; `LATCHKEY_BENCH_OPS`, a subset such
//! as `refresh,bearer` of `code,remembered,refresh,bearer,cc`, for a
//! profiler; `-- --test` runs it once, tiny).

use std::sync::Arc;
use std::time::Instant;

use latchkey_benches::peer::{Op, Oxide};
use latchkey_benches::{median, smoke, BenchError, Fixture};
use tokio::runtime::Runtime;

type Memory = Fixture<latchkey::MemoryStore>;

struct Sides {
    lk: Memory,
    ox: Oxide,
    lk_refresh: String,
    ox_refresh: String,
    lk_access: String,
    ox_access: String,
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Nanoseconds per operation of `n` runs of `op` on Latchkey.
fn latchkey_side(rt: &Runtime, s: &mut Sides, op: Op, n: usize) -> Result<f64, BenchError> {
    rt.block_on(async {
        let t = Instant::now();
        for _ in 0..n {
            match op {
                Op::CodeFlow => {
                    s.lk.code_flow().await?;
                }
                Op::RememberedCodeFlow => {
                    s.lk.remembered_code_flow().await?;
                }
                Op::Refresh => s.lk_refresh = s.lk.refresh(&s.lk_refresh).await?.refresh,
                Op::Bearer => s.lk.verify_bearer(&s.lk_access).await?,
                Op::ClientCredentials => {
                    s.lk.client_credentials().await?;
                }
            }
        }
        Ok(t.elapsed().as_nanos() as f64 / n as f64)
    })
}

/// Nanoseconds per operation of `n` runs of `op` on oxide-auth.
fn oxide_side(s: &mut Sides, op: Op, n: usize) -> Result<f64, BenchError> {
    let t = Instant::now();
    for _ in 0..n {
        match op {
            Op::CodeFlow => {
                s.ox.code_flow()?;
            }
            Op::RememberedCodeFlow => {
                s.ox.remembered_code_flow()?;
            }
            Op::Refresh => s.ox_refresh = s.ox.refresh(&s.ox_refresh)?.refresh,
            Op::Bearer => s.ox.verify_bearer(&s.ox_access)?,
            Op::ClientCredentials => {
                s.ox.client_credentials()?;
            }
        }
    }
    Ok(t.elapsed().as_nanos() as f64 / n as f64)
}

/// The operations `LATCHKEY_BENCH_OPS` names (all by default).
fn chosen_ops() -> Vec<Op> {
    let names = std::env::var("LATCHKEY_BENCH_OPS").unwrap_or_default();
    Op::ALL
        .into_iter()
        .filter(|op| {
            let key = match op {
                Op::CodeFlow => "code",
                Op::RememberedCodeFlow => "remembered",
                Op::Refresh => "refresh",
                Op::Bearer => "bearer",
                Op::ClientCredentials => "cc",
            };
            names.is_empty() || names.split(',').any(|n| n.trim() == key)
        })
        .collect()
}

fn main() -> Result<(), BenchError> {
    let ops = chosen_ops();
    let (rounds, iters) = if smoke() {
        (1, 3)
    } else {
        (
            env("LATCHKEY_BENCH_ROUNDS", 9),
            env("LATCHKEY_BENCH_ITERS", 3000),
        )
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let lk = rt.block_on(Fixture::new(Arc::new(latchkey::MemoryStore::new())))?;
    rt.block_on(lk.remember_consent())?;
    let ox = Oxide::new();
    // One family to refresh and another whose access token is checked:
    // oxide-auth drops a family's access token when it is refreshed.
    let (lk_chain, lk_checked) = (rt.block_on(lk.code_flow())?, rt.block_on(lk.code_flow())?);
    let (ox_chain, ox_checked) = (ox.code_flow()?, ox.code_flow()?);
    let mut s = Sides {
        lk,
        ox,
        lk_refresh: lk_chain.refresh,
        ox_refresh: ox_chain.refresh,
        lk_access: lk_checked.access,
        ox_access: ox_checked.access,
    };
    // One untimed round warms caches, allocators and branch predictors.
    for &op in &ops {
        latchkey_side(&rt, &mut s, op, iters.min(500))?;
        oxide_side(&mut s, op, iters.min(500))?;
    }
    let mut lk_ns: Vec<Vec<f64>> = vec![vec![]; ops.len()];
    let mut ox_ns: Vec<Vec<f64>> = vec![vec![]; ops.len()];
    for round in 0..rounds {
        for (i, &op) in ops.iter().enumerate() {
            if round % 2 == 0 {
                lk_ns[i].push(latchkey_side(&rt, &mut s, op, iters)?);
                ox_ns[i].push(oxide_side(&mut s, op, iters)?);
            } else {
                ox_ns[i].push(oxide_side(&mut s, op, iters)?);
                lk_ns[i].push(latchkey_side(&rt, &mut s, op, iters)?);
            }
        }
    }
    println!(
        "\nLatchkey (memory store) vs oxide-auth 0.6.1, same process, {rounds} interleaved rounds of {iters} operations per side; medians"
    );
    println!("| operation | Latchkey µs | oxide-auth µs | oxide-auth time / Latchkey time | target ≥ 1.5 |");
    println!("|---|---:|---:|---:|---|");
    for (i, op) in ops.into_iter().enumerate() {
        let l = median(&mut lk_ns[i]) / 1000.0;
        let o = median(&mut ox_ns[i]) / 1000.0;
        let ratio = o / l;
        let verdict = if ratio >= 1.5 { "met" } else { "not met" };
        println!(
            "| {} | {l:.2} | {o:.2} | {ratio:.2}× | {verdict} |",
            op.name()
        );
    }
    Ok(())
}
