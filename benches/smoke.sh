#!/usr/bin/env bash
# CI smoke of every benchmark: builds them (dev profile, sharing the test
# build's artifacts) and runs each once with tiny counts, then the HTTP load
# generator for a second per cell against a started example server.
# Not a timing: it proves the benchmarks still build and run end to end.
#
#   bash benches/smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export LATCHKEY_BENCH_SMOKE=1
passed=0

# Criterion runs each benchmark once under `cargo test`; the peer
# comparison runs one round of 3 operations per side.
cargo test -p latchkey-benches --benches
passed=$((passed + 3))

cargo run -p latchkey-benches --bin scale -- --test
passed=$((passed + 1))

PROFILE=dev SECONDS_PER_CELL=1 CONCURRENCY=1,4 MAX_REQUESTS=2000 benches/http.sh
passed=$((passed + 1))

echo "bench smoke: $passed passed, 0 failed"
