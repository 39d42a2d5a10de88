#!/usr/bin/env bash
# A private PostgreSQL cluster for Griffin's tests (not Debian's default cluster).
#
#   tests/setup/postgres.sh start|stop|restart|crash|status|url|psql [args...]
#
#   start    initialise (first time) and start the cluster, create role/database; reuse if running
#   stop     fast shutdown
#   restart  fast shutdown + start (for fault tests; ~1 s)
#   crash    immediate shutdown (like a crash: no checkpoint); `start` recovers
#   status   exit 0 if running and accepting connections, 3 otherwise
#   url      print the test database URL
#   psql     open psql as the superuser `postgres` on the unix socket (extra args passed on)
#
# Settings (environment): GRIFFIN_TEST_HOME (default ~/.cache/griffin-test), GRIFFIN_TEST_PG_PORT
# (55432), GRIFFIN_TEST_PG_DIR (where data/, run/ and postgres.log live; default
# $GRIFFIN_TEST_HOME/pg, see below), GRIFFIN_TEST_PG_AUTH (TCP auth method, default scram-sha-256;
# `trust` also works).
#
# As root the server runs as the `postgres` OS user. That user cannot enter a home directory of mode
# 700 (such as /root), so if it cannot reach $GRIFFIN_TEST_HOME the cluster lives in
# /var/lib/postgresql/griffin-test/<hash of GRIFFIN_TEST_HOME> instead and $GRIFFIN_TEST_HOME/pg is a
# symlink to it.
set -euo pipefail

log() { echo "[setup] pg: $*" >&2; }
die() { echo "[setup] pg: ERROR: $*" >&2; exit 1; }

GRIFFIN_TEST_HOME="${GRIFFIN_TEST_HOME:-$HOME/.cache/griffin-test}"
PG_PORT="${GRIFFIN_TEST_PG_PORT:-55432}"
PG_HOST=127.0.0.1
PG_AUTH="${GRIFFIN_TEST_PG_AUTH:-scram-sha-256}"
DB_NAME=griffin_test
DB_USER=griffin
DB_PASS=griffin
PG_URL="postgres://${DB_USER}:${DB_PASS}@${PG_HOST}:${PG_PORT}/${DB_NAME}"

# ---- who runs the server -------------------------------------------------------------------------
if [[ $EUID -eq 0 ]]; then
  id postgres >/dev/null 2>&1 || die "OS user 'postgres' does not exist (install the postgresql package: tests/setup/ensure.sh --only pg)"
  as_pg() { (cd / && runuser -u postgres -- "$@"); }
else
  as_pg() { "$@"; }   # a non-root developer runs the cluster as themself
fi

# ---- where it lives ------------------------------------------------------------------------------
pg_can_reach() { as_pg test -x "$1" -a -w "$1" 2>/dev/null; }

resolve_dir() {
  if [[ -n "${GRIFFIN_TEST_PG_DIR:-}" ]]; then PG_DIR="$GRIFFIN_TEST_PG_DIR"; return; fi
  mkdir -p "$GRIFFIN_TEST_HOME"
  if [[ -L "$GRIFFIN_TEST_HOME/pg" ]]; then PG_DIR="$(readlink -f "$GRIFFIN_TEST_HOME/pg")"; return; fi
  if [[ $EUID -ne 0 ]]; then PG_DIR="$GRIFFIN_TEST_HOME/pg"; return; fi
  mkdir -p "$GRIFFIN_TEST_HOME/pg"
  chown postgres: "$GRIFFIN_TEST_HOME/pg"
  if pg_can_reach "$GRIFFIN_TEST_HOME/pg"; then PG_DIR="$GRIFFIN_TEST_HOME/pg"; return; fi
  # postgres cannot enter $GRIFFIN_TEST_HOME (e.g. /root is 0700): keep the cluster elsewhere.
  local h; h="$(printf '%s' "$GRIFFIN_TEST_HOME" | sha256sum | cut -c1-10)"
  PG_DIR="/var/lib/postgresql/griffin-test/$h"
  rmdir "$GRIFFIN_TEST_HOME/pg" 2>/dev/null || true
  [[ -e "$GRIFFIN_TEST_HOME/pg" ]] || ln -s "$PG_DIR" "$GRIFFIN_TEST_HOME/pg"
}
resolve_dir
DATA="$PG_DIR/data"
RUN="$PG_DIR/run"          # private unix-socket directory
LOGFILE="$PG_DIR/postgres.log"

# ---- binaries: the major version the cluster was made with, else the newest installed -------------
find_bin() {
  local v=""
  if [[ -f "$DATA/PG_VERSION" ]]; then
    v="$(cat "$DATA/PG_VERSION")"
    if [[ -x "/usr/lib/postgresql/$v/bin/postgres" ]]; then PG_BIN="/usr/lib/postgresql/$v/bin"; return; fi
    die "cluster in $DATA is PostgreSQL $v but /usr/lib/postgresql/$v/bin is missing; delete $PG_DIR to re-create it"
  fi
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
  [[ -n "$d" && -x "$d/initdb" ]] || die "no PostgreSQL server found in /usr/lib/postgresql/*/bin (run tests/setup/ensure.sh --only pg, which installs it)"
  PG_BIN="$d"
}
find_bin

# ---- state ---------------------------------------------------------------------------------------
# pid of the postmaster serving $DATA, or empty. A postmaster.pid whose process is gone or is some
# other program (pid reused after a reboot) is stale.
live_pid() {
  [[ -f "$DATA/postmaster.pid" ]] || return 0
  local pid; pid="$(head -n1 "$DATA/postmaster.pid" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  [[ -d "/proc/$pid" ]] || return 0
  # A killed postmaster can linger as a zombie until it is reaped: that is not a server.
  local state; state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
  [[ -n "$state" && "$state" != Z && "$state" != X ]] || return 0
  local comm; comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
  [[ "$comm" == postgres || "$comm" == postmaster ]] || return 0
  local cwd; cwd="$(readlink "/proc/$pid/cwd" 2>/dev/null || true)"
  [[ -z "$cwd" || "$cwd" == "$(readlink -f "$DATA")" ]] || return 0
  echo "$pid"
}

clear_stale() {
  if [[ -f "$DATA/postmaster.pid" && -z "$(live_pid)" ]]; then
    log "removing stale postmaster.pid (server not running; machine restarted or server killed)"
    rm -f "$DATA/postmaster.pid"
  fi
  rm -f "$RUN/.s.PGSQL.$PG_PORT.lock" "$RUN/.s.PGSQL.$PG_PORT" 2>/dev/null || true
}

port_busy() { (exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null; }

ready() { "$PG_BIN/pg_isready" -q -h "$RUN" -p "$PG_PORT" -t 2 >/dev/null 2>&1; }

show_log() { [[ -f "$LOGFILE" ]] && { echo "---- last lines of $LOGFILE ----" >&2; tail -n 25 "$LOGFILE" >&2; } || true; }

# ---- actions -------------------------------------------------------------------------------------
write_conf() {
  # Rewritten on every start; included from postgresql.conf (added once at initdb).
  as_pg tee "$DATA/griffin.conf" >/dev/null <<EOF
# Written by tests/setup/postgres.sh on every start. Test cluster: speed over durability.
listen_addresses = '$PG_HOST'
port = $PG_PORT
unix_socket_directories = '$RUN'
max_connections = 200
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
timezone = 'UTC'
EOF
}

init_cluster() {
  log "initialising a new cluster in $DATA (PostgreSQL $($PG_BIN/postgres --version | awk '{print $3}'), port $PG_PORT)"
  if [[ $EUID -eq 0 ]]; then
    mkdir -p "$PG_DIR"; chown postgres: "$PG_DIR"; chmod 700 "$PG_DIR"
  else
    mkdir -p "$PG_DIR"
  fi
  as_pg "$PG_BIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host="$PG_AUTH" >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  echo "include = 'griffin.conf'" | as_pg tee -a "$DATA/postgresql.conf" >/dev/null
}

provision() {
  # Idempotent: role griffin/griffin owning database griffin_test.
  as_pg "$PG_BIN/psql" -X -q -h "$RUN" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<EOF || die "could not create role/database (see above)"
SELECT format('CREATE ROLE %I LOGIN', '$DB_USER') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER') \gexec
ALTER ROLE $DB_USER WITH LOGIN PASSWORD '$DB_PASS' CREATEDB;
SELECT format('CREATE DATABASE %I OWNER %I', '$DB_NAME', '$DB_USER') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB_NAME') \gexec
EOF
}

do_start() {
  [[ -f "$DATA/PG_VERSION" ]] || init_cluster
  if [[ $EUID -eq 0 ]]; then mkdir -p "$RUN"; chown postgres: "$RUN"; else mkdir -p "$RUN"; fi
  local pid; pid="$(live_pid)"
  if [[ -n "$pid" ]]; then
    if ready; then log "already running (pid $pid, port $PG_PORT)"; provision; return; fi
    # A postmaster exists but does not answer: starting up, recovering, or shutting down.
    local i; for i in $(seq 1 120); do
      ready && break
      [[ -n "$(live_pid)" ]] || break      # it went away: start a new one below
      sleep 0.5
    done
    if ready; then log "running (pid $(live_pid), port $PG_PORT)"; provision; return; fi
    [[ -z "$(live_pid)" ]] || { show_log; die "a postmaster (pid $pid) holds $DATA but does not accept connections after 60 s"; }
    log "the previous postmaster (pid $pid) went away; starting a new one"
  fi
  clear_stale
  if port_busy; then
    die "port $PG_HOST:$PG_PORT is already in use by another program; stop it or set GRIFFIN_TEST_PG_PORT"
  fi
  write_conf
  : >>"$LOGFILE" 2>/dev/null || true
  [[ $EUID -eq 0 ]] && chown postgres: "$LOGFILE"
  as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$LOGFILE" -w -t 60 -s start >/dev/null 2>&1 \
    || { show_log; die "server did not start"; }
  log "started (pid $(live_pid), port $PG_PORT, data $DATA)"
  provision
}

do_stop() {
  local mode="${1:-fast}"
  if [[ -z "$(live_pid)" ]]; then clear_stale; log "not running"; return 0; fi
  as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m "$mode" -w -t 60 -s stop >/dev/null 2>&1 \
    || { show_log; die "server did not stop ($mode)"; }
  log "stopped ($mode)"
}

do_status() {
  local pid; pid="$(live_pid)"
  if [[ -n "$pid" ]] && ready; then
    echo "running: pid $pid, $PG_URL, data $DATA, log $LOGFILE"; return 0
  elif [[ -n "$pid" ]]; then
    echo "not ready: pid $pid holds $DATA but does not accept connections"; return 3
  fi
  echo "stopped (data $DATA)"; return 3
}

cmd="${1:-}"; [[ $# -gt 0 ]] && shift
case "$cmd" in
  start)   do_start ;;
  stop)    do_stop fast ;;
  crash)   do_stop immediate ;;
  restart) do_stop fast; do_start ;;
  status)  do_status ;;
  url)     echo "$PG_URL" ;;
  datadir) echo "$DATA" ;;
  psql)    as_pg "$PG_BIN/psql" -X -h "$RUN" -p "$PG_PORT" -U postgres -d "$DB_NAME" "$@" ;;
  *) echo "usage: $0 start|stop|restart|crash|status|url|datadir|psql [psql args]" >&2; exit 2 ;;
esac
