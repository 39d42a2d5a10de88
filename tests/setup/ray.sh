#!/usr/bin/env bash
# A single-node Ray head (with the dashboard / Jobs REST API) for Griffin's tests.
#
#   tests/setup/ray.sh start|stop|restart|status|address
#
#   start    start the head and wait until GET /api/version answers; reuse a running one if its
#            Ray version matches the venv's (otherwise it is restarted)
#   stop     `ray stop` (stops every Ray process of this machine)
#   status   exit 0 if the Jobs API answers, 3 otherwise
#   address  print the Jobs API address (http://127.0.0.1:8265)
#
# Settings (environment): GRIFFIN_TEST_HOME, GRIFFIN_RAY_PYTHON (python of the venv holding ray;
# default: the venv made by ensure.sh), GRIFFIN_TEST_RAY_DASHBOARD_PORT (8265), GRIFFIN_TEST_RAY_PORT
# (GCS port, 56379), GRIFFIN_TEST_RAY_NUM_CPUS (2), GRIFFIN_TEST_RAY_OBJECT_STORE_BYTES (200000000),
# GRIFFIN_TEST_RAY_TIMEOUT (seconds to wait for the API, 120), GRIFFIN_TEST_RAY_EXTRA_ARGS
# (appended to `ray start`).
set -euo pipefail

log() { echo "[setup] ray: $*" >&2; }
die() { echo "[setup] ray: ERROR: $*" >&2; exit 1; }

GRIFFIN_TEST_HOME="${GRIFFIN_TEST_HOME:-$HOME/.cache/griffin-test}"
DASH_PORT="${GRIFFIN_TEST_RAY_DASHBOARD_PORT:-8265}"
GCS_PORT="${GRIFFIN_TEST_RAY_PORT:-56379}"
NUM_CPUS="${GRIFFIN_TEST_RAY_NUM_CPUS:-2}"
OBJ_BYTES="${GRIFFIN_TEST_RAY_OBJECT_STORE_BYTES:-200000000}"
TIMEOUT="${GRIFFIN_TEST_RAY_TIMEOUT:-120}"
ADDRESS="http://127.0.0.1:$DASH_PORT"
LOGDIR="$GRIFFIN_TEST_HOME/logs"

find_python() {
  if [[ -n "${GRIFFIN_RAY_PYTHON:-}" ]]; then RAY_PY="$GRIFFIN_RAY_PYTHON"
  elif [[ -x "$GRIFFIN_TEST_HOME/venv-ray/bin/python" ]]; then RAY_PY="$GRIFFIN_TEST_HOME/venv-ray/bin/python"
  else RAY_PY="$GRIFFIN_TEST_HOME/venv/bin/python"; fi
  [[ -x "$RAY_PY" ]] || die "no Python with ray at $RAY_PY (run tests/setup/ensure.sh --only ray)"
  RAY_BIN="$(dirname "$RAY_PY")"
  [[ -x "$RAY_BIN/ray" ]] || die "$RAY_BIN/ray not found (is ray[default] installed in that venv?)"
}

command -v curl >/dev/null || die "curl is required (apt-get install -y curl)"

api_version() { curl -fsS --max-time 3 "$ADDRESS/api/version" 2>/dev/null; }

venv_ray_version() {
  # Read the version from the installed metadata (importing ray takes seconds).
  local m; m="$(ls -d "$RAY_BIN"/../lib/python3*/site-packages/ray-*.dist-info 2>/dev/null | head -n1 || true)"
  [[ -n "$m" ]] && basename "$m" | sed -E 's/^ray-(.*)\.dist-info$/\1/'
}

ray_env() {
  # Job entrypoints such as `python -c ...` must find the venv's python first.
  # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 is Ray's single-machine mode: without it Ray swaps 127.0.0.1
  # for the machine's network address and its processes talk to each other over that.
  env PATH="$RAY_BIN:$PATH" VIRTUAL_ENV="$(dirname "$RAY_BIN")" RAY_USAGE_STATS_ENABLED=0 \
    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 "$@"
}

do_stop() {
  find_python
  mkdir -p "$LOGDIR"
  ray_env "$RAY_BIN/ray" stop >"$LOGDIR/ray-stop.log" 2>&1 || { cat "$LOGDIR/ray-stop.log" >&2; die "ray stop failed"; }
  log "stopped"
}

do_start() {
  find_python
  mkdir -p "$LOGDIR"
  local want have
  want="$(venv_ray_version || true)"
  if have="$(api_version)"; then
    if [[ -z "$want" || "$have" == *"\"ray_version\": \"$want\""* || "$have" == *"\"ray_version\":\"$want\""* ]]; then
      log "already running at $ADDRESS ($have)"; return 0
    fi
    log "a head with another Ray version answers ($have; venv has $want): restarting it"
    do_stop
  fi
  # No answer: clear whatever half-dead Ray processes are left (e.g. after a failed start).
  if pgrep -x gcs_server >/dev/null 2>&1 || pgrep -x raylet >/dev/null 2>&1; then
    log "Ray processes without a working Jobs API found: ray stop"
    ray_env "$RAY_BIN/ray" stop >"$LOGDIR/ray-stop.log" 2>&1 || true
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$DASH_PORT") 2>/dev/null; then
    die "port $DASH_PORT is in use by another program; stop it or set GRIFFIN_TEST_RAY_DASHBOARD_PORT"
  fi
  log "starting head (ray $want, $NUM_CPUS CPUs, object store $OBJ_BYTES bytes, dashboard $ADDRESS)"
  # A session of its own: the head must outlive the shell (and process group) that started it,
  # or the end of that command takes the head down with it.
  # shellcheck disable=SC2086
  if ! ray_env setsid -w "$RAY_BIN/ray" start --head \
      --node-ip-address 127.0.0.1 --port "$GCS_PORT" \
      --dashboard-host 127.0.0.1 --dashboard-port "$DASH_PORT" --include-dashboard true \
      --num-cpus "$NUM_CPUS" --num-gpus 0 --object-store-memory "$OBJ_BYTES" \
      --disable-usage-stats ${GRIFFIN_TEST_RAY_EXTRA_ARGS:-} >"$LOGDIR/ray-start.log" 2>&1; then
    tail -n 30 "$LOGDIR/ray-start.log" >&2
    die "ray start failed (full output: $LOGDIR/ray-start.log)"
  fi
  local deadline=$((SECONDS + TIMEOUT))
  until have="$(api_version)"; do
    if (( SECONDS >= deadline )); then
      tail -n 30 "$LOGDIR/ray-start.log" >&2
      die "Ray Jobs API at $ADDRESS/api/version did not answer within ${TIMEOUT}s (logs: /tmp/ray/session_latest/logs, $LOGDIR/ray-start.log)"
    fi
    sleep 0.5
  done
  log "ready at $ADDRESS ($have)"
}

do_status() {
  local have
  if have="$(api_version)"; then echo "running: $ADDRESS $have"; return 0; fi
  echo "not answering: $ADDRESS/api/version"; return 3
}

case "${1:-}" in
  start)   do_start ;;
  stop)    do_stop ;;
  restart) do_stop; do_start ;;
  status)  do_status ;;
  address) echo "$ADDRESS" ;;
  *) echo "usage: $0 start|stop|restart|status|address" >&2; exit 2 ;;
esac
