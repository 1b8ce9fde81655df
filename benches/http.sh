#!/usr/bin/env bash
# HTTP load benchmark: starts the axum example on loopback (redb, and
# PostgreSQL when reachable), runs the load generator against each, stops
# the server. Bounded: every cell stops after SECONDS or MAX_REQUESTS.
#
#   benches/http.sh                      # full run (5 s per cell)
#   SECONDS_PER_CELL=1 CONCURRENCY=1,4 benches/http.sh
#   BACKENDS=redb benches/http.sh
#
# PostgreSQL: LATCHKEY_BENCH_POSTGRES_URL (default
# postgres://postgres@127.0.0.1:5432/postgres) names the server; a
# database is made for the run and dropped after.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_CELL=${SECONDS_PER_CELL:-5}
CONCURRENCY=${CONCURRENCY:-1,16,64}
MAX_REQUESTS=${MAX_REQUESTS:-200000}
SCENARIOS=${SCENARIOS:-introspection,client_credentials,refresh,code_flow}
BACKENDS=${BACKENDS:-redb,postgres}
PROFILE=${PROFILE:-release}
PG_ADMIN=${LATCHKEY_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

profile_flag=(--release)
[ "$PROFILE" = release ] || profile_flag=(--profile "$PROFILE")
# Both binaries by name: `--bin` filters every package's targets, so
# `-p latchkey-example-axum … --bin loadgen` alone builds no server (a
# debug build only worked because the test build had made one).
cargo build "${profile_flag[@]}" -p latchkey-example-axum --features sql \
    -p latchkey-benches --bin loadgen --bin latchkey-example-axum
bin=target/$PROFILE
[ "$PROFILE" = dev ] && bin=target/debug

work=$(mktemp -d)
server_pid=
pg_db=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    if [ -n "$pg_db" ]; then
        psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

"$bin/loadgen" --write-clients "$work/clients.json"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

run() { # label, extra server flags...
    local label=$1; shift
    local port; port=$(free_port)
    rm -rf "$work/data"
    "$bin/latchkey-example-axum" --addr "127.0.0.1:$port" --data-dir "$work/data" \
        --clients "$work/clients.json" --no-rate-limits "$@" 2>"$work/server-$label.log" &
    server_pid=$!
    local up=
    for _ in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$port/.well-known/oauth-authorization-server" >/dev/null 2>&1; then
            up=1
            break
        fi
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$up" ]; then
        echo "the $label server did not come up; its log:" >&2
        cat "$work/server-$label.log" >&2
        exit 1
    fi
    "$bin/loadgen" --base "http://127.0.0.1:$port" --label "$label" \
        --scenarios "$SCENARIOS" --concurrency "$CONCURRENCY" \
        --seconds "$SECONDS_PER_CELL" --max-requests "$MAX_REQUESTS"
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
    server_pid=
}

for backend in ${BACKENDS//,/ }; do
    case $backend in
    redb) run redb ;;
    postgres)
        pg_db="lk_http_$$"
        if psql "$PG_ADMIN" -qc "CREATE DATABASE $pg_db" >/dev/null 2>&1; then
            run postgres --database-url "${PG_ADMIN%/*}/$pg_db"
        elif [ "${CI:-}" = true ]; then
            echo "PostgreSQL unreachable at $PG_ADMIN in CI" >&2; exit 1
        else
            echo "!!! SKIPPING the PostgreSQL HTTP run: cannot create a database at $PG_ADMIN" >&2
            pg_db=
        fi
        ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
    esac
done
