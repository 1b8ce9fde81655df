#!/usr/bin/env bash
# Makes sure the PostgreSQL and MariaDB servers the latchkey-sqlx tests use
# are running and answering: starts whichever does not answer, then waits
# for both. Exits non-zero if either never answers. Used by CI.
#
# Env: LATCHKEY_DB_WAIT_SECS (default 60), PGHOST/PGPORT (127.0.0.1:5432),
# MYSQL_HOST/MYSQL_PORT (127.0.0.1:3306).
set -euo pipefail

wait_secs="${LATCHKEY_DB_WAIT_SECS:-60}"
pg_host="${PGHOST:-127.0.0.1}"
pg_port="${PGPORT:-5432}"
my_host="${MYSQL_HOST:-127.0.0.1}"
my_port="${MYSQL_PORT:-3306}"

pg_ok() { pg_isready -q -h "$pg_host" -p "$pg_port"; }
my_ok() { mariadb-admin --protocol=tcp -h "$my_host" -P "$my_port" -u root ping >/dev/null 2>&1; }

start_pg() {
    local v
    for v in $(ls /etc/postgresql 2>/dev/null); do
        echo "ensure-databases: starting PostgreSQL $v"
        pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
    done
}

start_my() {
    echo "ensure-databases: starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
}

pg_ok || start_pg
my_ok || start_my

deadline=$((SECONDS + wait_secs))
until pg_ok && my_ok; do
    if ((SECONDS >= deadline)); then
        pg_ok && echo "PostgreSQL: up" || echo "PostgreSQL: NOT answering on $pg_host:$pg_port" >&2
        my_ok && echo "MariaDB: up" || echo "MariaDB: NOT answering on $my_host:$my_port" >&2
        exit 1
    fi
    sleep 1
done
echo "ensure-databases: PostgreSQL ($pg_host:$pg_port) and MariaDB ($my_host:$my_port) answer"
