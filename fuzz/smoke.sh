#!/usr/bin/env bash
# Builds every fuzz target and runs each for a short while from its
# committed seeds, failing on the first crash, leak, timeout or failed
# check. `.ci/run` calls it; see README.md for longer runs.
#
#   FUZZ_SECONDS   seconds per target (default 20)
#   FUZZ_TARGETS   space-separated subset (default: every target)
#
#   FUZZ_TOOLCHAIN e.g. `nightly` (default: the default toolchain, stable,
#                  with RUSTC_BOOTSTRAP=1 for cargo-fuzz's -Z flags: CI
#                  machines have only stable and cannot fetch another)
#   FUZZ_FLAGS     build flags (default `-a -s none`: debug assertions and
#                  overflow checks, no sanitizer; the library forbids
#                  unsafe code, so a sanitizer would only watch its
#                  dependencies, at twice the build and run time)
#
# Installs cargo-fuzz when it is missing. New corpus entries go to a
# scratch directory, so the committed seeds stay as they are.
set -euo pipefail
cd "$(dirname "$0")"

secs="${FUZZ_SECONDS:-20}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

read -r -a flags <<< "${FUZZ_FLAGS:--a -s none}"
if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then
    toolchain=("+$FUZZ_TOOLCHAIN")
else
    toolchain=()
    export RUSTC_BOOTSTRAP=1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
cargo "${toolchain[@]}" --version
cargo fuzz --version

targets="${FUZZ_TARGETS:-$(cargo "${toolchain[@]}" fuzz list)}"
start=$(date +%s)
cargo "${toolchain[@]}" fuzz build "${flags[@]}"
echo "built in $(( $(date +%s) - start )) s"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in $targets; do
    mkdir -p "$scratch/$t"
    cp corpus/"$t"/* "$scratch/$t"/
    echo "== $t (${secs} s)"
    if ! cargo "${toolchain[@]}" fuzz run "${flags[@]}" "$t" "$scratch/$t" -- \
        -max_total_time="$secs" -dict=oauth.dict -timeout=30 -rss_limit_mb=4096 \
        -print_final_stats=1 2>"$scratch/$t.log"; then
        tail -60 "$scratch/$t.log"
        failed+=("$t")
        continue
    fi
    grep -E '^stat::number_of_executed_units|^Done' "$scratch/$t.log" || true
done
echo "smoke run took $(( $(date +%s) - start )) s"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz targets failed: ${failed[*]} (the crash input is under fuzz/artifacts/)"
    exit 1
fi
echo "every fuzz target ran clean"
