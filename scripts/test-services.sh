#!/usr/bin/env bash
# Start (or stop) the real servers the test suite talks to: PostgreSQL and Redis on loopback.
#
#   scripts/test-services.sh start   # installs what is missing (apt-get), starts, writes .test-services/env
#   scripts/test-services.sh stop
#   scripts/test-services.sh env     # prints the export lines
#
# State lives in /tmp/helpline-test-services-<hash of this checkout's path>: outside the
# checkout because the `postgres` user must be able to reach it (a clone under /root is not),
# and per checkout so two clones do not share a cluster. Ports: HELPLINE_TEST_PG_PORT,
# HELPLINE_TEST_REDIS_PORT.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${HELPLINE_TEST_STATE:-/tmp/helpline-test-services-$(printf '%s' "$ROOT" | md5sum | cut -c1-8)}"
PG_PORT="${HELPLINE_TEST_PG_PORT:-55432}"
REDIS_PORT="${HELPLINE_TEST_REDIS_PORT:-56379}"
PG_DATA="$STATE/postgres"
ENV_FILE="$STATE/env"

log() { printf '[test-services] %s\n' "$*" >&2; }

# Debian packages the suite needs, one per line: later issues add dovecot, tesseract, chromium…
apt_install_missing() {
    local missing=()
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v chromium >/dev/null || missing+=(chromium)                     # browser tests (Playwright)
    command -v openssl >/dev/null || missing+=(openssl)                       # certificates for TLS tests
    [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)  # Arabic glyphs
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]} with apt-get"
        if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1; }

# PostgreSQL refuses to run as root; run it as the `postgres` system user.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
    local port=$1 name=$2
    for _ in $(seq 1 150); do
        port_open "$port" && return 0
        sleep 0.2
    done
    log "$name did not start on 127.0.0.1:$port"; return 1
}

start_postgres() {
    local bin; bin="$(pg_bin)"
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
    mkdir -p "$STATE"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$STATE"; chmod 755 "$STATE"; fi
    if [ ! -f "$PG_DATA/PG_VERSION" ]; then
        log "initialising PostgreSQL cluster in $PG_DATA"
        as_pg "$bin/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    fi
    if as_pg "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
        log "PostgreSQL already running"
    else
        rm -f "$PG_DATA/postmaster.pid"   # stale after a machine restart
        as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$STATE/postgres.log" -w -t 60 start \
            -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $STATE -c max_connections=200" >/dev/null
    fi
    wait_port "$PG_PORT" PostgreSQL
    local psql=("$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
    if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname='helpline'")" != "1" ]; then
        "${psql[@]}" -c "CREATE ROLE helpline LOGIN SUPERUSER"
    fi
    if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname='helpline_test'")" != "1" ]; then
        "${psql[@]}" -c "CREATE DATABASE helpline_test OWNER helpline"
    fi
}

start_redis() {
    if port_open "$REDIS_PORT"; then
        log "Redis already running"
        return
    fi
    mkdir -p "$STATE"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize yes \
        --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log" --dir "$STATE"
    wait_port "$REDIS_PORT" Redis
}

write_env() {
    cat >"$ENV_FILE" <<ENV
export HELPLINE_TEST_POSTGRES_URL=postgresql+psycopg://helpline@127.0.0.1:$PG_PORT/helpline_test
export HELPLINE_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
ENV
}

stop_all() {
    if [ -f "$PG_DATA/PG_VERSION" ]; then
        as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null 2>&1 || true
    fi
    if [ -f "$STATE/redis.pid" ]; then
        kill "$(cat "$STATE/redis.pid")" 2>/dev/null || true
        rm -f "$STATE/redis.pid"
    fi
    log "stopped"
}

case "${1:-start}" in
    start)
        apt_install_missing
        start_postgres
        start_redis
        write_env
        log "PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT ($ENV_FILE)"
        ;;
    stop) stop_all ;;
    env) [ -f "$ENV_FILE" ] || write_env; cat "$ENV_FILE" ;;
    *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
