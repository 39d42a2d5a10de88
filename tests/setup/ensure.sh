#!/usr/bin/env bash
# Sets up (idempotently) everything Griffin's test suite needs on a Debian 12 machine, reusing what
# is already there, then writes a sourceable $GRIFFIN_TEST_HOME/env and prints its path on stdout.
#
#   bash tests/setup/ensure.sh [--skip LIST] [--only LIST]
#
# Parts (LIST is comma-separated): node (npm ci), pg (private PostgreSQL cluster), chromium,
# airflow (Python venv with Airflow 3 + the editable airflow-plugin), ray (venv with ray[default]
# + a running Ray head), fuzz (venv with schemathesis), mlflow (venv with the mlflow client and
# scikit-learn), schemas (Kubernetes and KubeRay reference
# schemas for the manifest tests, tests/setup/schemas.sh), k8s (a Kubernetes control plane built from
# Go modules, tests/k8s/cluster.sh), kuberay (its KubeRay operator). GRIFFIN_TEST_SKIP/_ONLY take the same lists.
# See tests/setup/README.md for the other settings.
set -Eeuo pipefail

SETUP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SETUP_DIR/../.." && pwd)"
export GRIFFIN_TEST_HOME="${GRIFFIN_TEST_HOME:-$HOME/.cache/griffin-test}"
PIP_CACHE="${PIP_CACHE_DIR:-$HOME/.cache/pip}"
WHEELHOUSE="$PIP_CACHE/griffin-wheelhouse"
LOGDIR="$GRIFFIN_TEST_HOME/logs"
ENV_FILE="$GRIFFIN_TEST_HOME/env"
VENV_LAYOUT="${GRIFFIN_TEST_VENV_LAYOUT:-shared}"   # shared: one venv for Airflow and Ray; split: two
VENV_RECIPE_REV=1                                   # bump to force every venv to be rebuilt
ALL_PARTS=(node pg chromium airflow ray fuzz mlflow schemas k8s kuberay)

T0=$SECONDS
log() { echo "[setup] $*" >&2; }
die() { echo "[setup] ERROR: $*" >&2; exit 1; }
trap 'rc=$?; echo "[setup] ERROR: command failed (exit $rc) at ensure.sh line $LINENO: $BASH_COMMAND" >&2' ERR

usage() {
  sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit "${1:-0}"
}

# ---- which parts -----------------------------------------------------------------------------
canon() {   # sets CANON; not used in $(...) so that die really exits
  case "$1" in
    node|npm) CANON=node ;;
    pg|postgres|postgresql) CANON=pg ;;
    chromium|browser) CANON=chromium ;;
    airflow) CANON=airflow ;;
    ray) CANON=ray ;;
    fuzz|schemathesis) CANON=fuzz ;;
    mlflow) CANON=mlflow ;;
    schemas) CANON=schemas ;;
    k8s|kubernetes) CANON=k8s ;;
    kuberay) CANON=kuberay ;;
    *) die "unknown part '$1' (known: ${ALL_PARTS[*]})" ;;
  esac
}
SKIP_LIST="${GRIFFIN_TEST_SKIP:-}"
ONLY_LIST="${GRIFFIN_TEST_ONLY:-}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --skip) [[ $# -ge 2 ]] || die "--skip needs a list"; SKIP_LIST="${SKIP_LIST:+$SKIP_LIST,}$2"; shift 2 ;;
    --skip=*) SKIP_LIST="${SKIP_LIST:+$SKIP_LIST,}${1#*=}"; shift ;;
    --only) [[ $# -ge 2 ]] || die "--only needs a list"; ONLY_LIST="${ONLY_LIST:+$ONLY_LIST,}$2"; shift 2 ;;
    --only=*) ONLY_LIST="${ONLY_LIST:+$ONLY_LIST,}${1#*=}"; shift ;;
    -h|--help) usage 0 ;;
    *) echo "[setup] unknown argument: $1" >&2; usage 2 ;;
  esac
done
declare -A WANT=()
if [[ -n "$ONLY_LIST" ]]; then
  IFS=',' read -ra _l <<<"$ONLY_LIST"; for p in "${_l[@]}"; do p="${p//[[:space:]]/}"; [[ -n "$p" ]] || continue; canon "$p"; WANT[$CANON]=1; done
else
  for p in "${ALL_PARTS[@]}"; do WANT[$p]=1; done
fi
if [[ -n "$SKIP_LIST" ]]; then
  IFS=',' read -ra _l <<<"$SKIP_LIST"; for p in "${_l[@]}"; do p="${p//[[:space:]]/}"; [[ -n "$p" ]] || continue; canon "$p"; unset "WANT[$CANON]"; done
fi
want() { [[ -n "${WANT[$1]:-}" ]]; }
SELECTED=(); for p in "${ALL_PARTS[@]}"; do want "$p" && SELECTED+=("$p"); done
log "parts: ${SELECTED[*]:-(none)}   (GRIFFIN_TEST_HOME=$GRIFFIN_TEST_HOME)"

mkdir -p "$GRIFFIN_TEST_HOME" "$LOGDIR"
exec 9>"$GRIFFIN_TEST_HOME/.ensure.lock"
if ! flock -n 9; then
  log "another ensure.sh is running; waiting for it"
  flock -w 1800 9 || die "timed out waiting for the other ensure.sh (lock $GRIFFIN_TEST_HOME/.ensure.lock)"
fi

step_start() { STEP_T0=$SECONDS; log "$*"; }
step_done() { log "  ... $* ($((SECONDS - STEP_T0)) s)"; }

# ---- venv paths ------------------------------------------------------------------------------
case "$VENV_LAYOUT" in
  shared) AIRFLOW_VENV="$GRIFFIN_TEST_HOME/venv"; RAY_VENV="$GRIFFIN_TEST_HOME/venv" ;;
  split)  AIRFLOW_VENV="$GRIFFIN_TEST_HOME/venv-airflow"; RAY_VENV="$GRIFFIN_TEST_HOME/venv-ray" ;;
  *) die "GRIFFIN_TEST_VENV_LAYOUT must be 'shared' or 'split', not '$VENV_LAYOUT'" ;;
esac
BASE_PY="${GRIFFIN_TEST_PYTHON:-python3}"
FUZZ_VENV="$GRIFFIN_TEST_HOME/fuzz-venv"
SDK_VENV="$GRIFFIN_TEST_HOME/sdk-venv"
MLFLOW_VENV="$GRIFFIN_TEST_HOME/mlflow-venv"
NEED_VENV=0; { want airflow || want ray; } && NEED_VENV=1

# ---- Debian packages (one apt-get update/install for everything missing) ---------------------
find_initdb() { ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1 || true; }
APT_PKGS=()
if want pg; then
  [[ -n "$(find_initdb)" ]] || APT_PKGS+=(postgresql)
  command -v runuser >/dev/null || APT_PKGS+=(util-linux)
fi
if want chromium && [[ ! -x /usr/bin/chromium ]]; then APT_PKGS+=(chromium); fi
if want ray && ! command -v curl >/dev/null; then APT_PKGS+=(curl); fi
if want k8s && ! command -v curl >/dev/null && ! want ray; then APT_PKGS+=(curl); fi
if want k8s && ! command -v openssl >/dev/null; then APT_PKGS+=(openssl); fi
if [[ $NEED_VENV == 1 ]] || want fuzz || want mlflow; then
  command -v "$BASE_PY" >/dev/null || die "$BASE_PY not found (set GRIFFIN_TEST_PYTHON to a Python >= 3.10)"
  "$BASE_PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || die "$BASE_PY is $("$BASE_PY" --version 2>&1); Airflow 3 needs >= 3.10 (set GRIFFIN_TEST_PYTHON)"
  # Debian's own python3 needs python3-venv for `python -m venv` (ensurepip).
  "$BASE_PY" -c 'import ensurepip, venv' 2>/dev/null || APT_PKGS+=(python3-venv)
fi
if [[ ${#APT_PKGS[@]} -gt 0 ]]; then
  [[ $EUID -eq 0 ]] || die "missing Debian packages: ${APT_PKGS[*]}; run as root or: sudo apt-get install -y ${APT_PKGS[*]}"
  step_start "apt-get update && apt-get install -y ${APT_PKGS[*]}   (log: $LOGDIR/apt.log)"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -q && apt-get install -y -q "${APT_PKGS[@]}"; } >"$LOGDIR/apt.log" 2>&1 \
    || { tail -n 40 "$LOGDIR/apt.log" >&2; die "apt-get failed (full log: $LOGDIR/apt.log)"; }
  step_done "installed ${APT_PKGS[*]}"
fi

# ---- the run user --------------------------------------------------------------------------
# As root, the service runs local training as griffin-run (GRIFFIN_RUN_AS_USER); the local
# executor tests check that training code cannot read the service's files.
if [[ $EUID -eq 0 ]] && ! getent passwd griffin-run >/dev/null; then
  useradd --system --no-create-home --shell /usr/sbin/nologin griffin-run
  log "created the system user griffin-run (local training runs as it when the service is root)"
fi

# ---- the control plane's first build, started early ----------------------------------------
# Compiling Kubernetes from Go modules is most of a fresh set-up (15-18 min, niced). It needs only
# Go and the module proxy, so it runs in the background beside npm ci and the Python venvs, which
# mostly wait on downloads. The k8s step below waits for it on the build lock and builds whatever
# it did not.
K8S_EARLY_BUILD_PID=""
K8S_KUBERAY="$(want kuberay && echo 1 || echo 0)"   # whether cluster.sh builds and starts the KubeRay operator
if want k8s && command -v go >/dev/null \
    && ! GRIFFIN_K8S_KUBERAY="$K8S_KUBERAY" bash "$REPO_ROOT/tests/k8s/cluster.sh" built; then
  log "k8s: building the control plane in the background   (log: $LOGDIR/k8s-build.log)"
  GRIFFIN_K8S_KUBERAY="$K8S_KUBERAY" \
    bash "$REPO_ROOT/tests/k8s/cluster.sh" build >"$LOGDIR/k8s-build.log" 2>&1 9>&- &
  K8S_EARLY_BUILD_PID=$!
fi

# ---- node ------------------------------------------------------------------------------------
if want node; then
  command -v npm >/dev/null || die "npm not found: install Node.js 20 first"
  if [[ ! -f "$REPO_ROOT/package-lock.json" ]]; then
    log "node: WARNING: no package-lock.json in $REPO_ROOT, skipping npm ci"
  elif [[ ! -d "$REPO_ROOT/node_modules" || ! -f "$REPO_ROOT/node_modules/.package-lock.json" \
          || "$REPO_ROOT/package-lock.json" -nt "$REPO_ROOT/node_modules/.package-lock.json" ]]; then
    step_start "node: npm ci   (log: $LOGDIR/npm-ci.log)"
    (cd "$REPO_ROOT" && npm ci --no-audit --no-fund) >"$LOGDIR/npm-ci.log" 2>&1 \
      || { tail -n 40 "$LOGDIR/npm-ci.log" >&2; die "npm ci failed (full log: $LOGDIR/npm-ci.log)"; }
    step_done "node_modules installed"
  else
    log "node: node_modules up to date"
  fi
fi

# ---- postgres --------------------------------------------------------------------------------
if want pg; then
  step_start "pg: private cluster on 127.0.0.1:${GRIFFIN_TEST_PG_PORT:-55432}"
  bash "$SETUP_DIR/postgres.sh" start 9>&-   # daemons must not inherit the lock
  step_done "pg ready"
fi

# ---- chromium --------------------------------------------------------------------------------
if want chromium; then
  [[ -x /usr/bin/chromium ]] || die "/usr/bin/chromium missing after apt-get install chromium"
  log "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo 'present')"
fi

# ---- python venvs ----------------------------------------------------------------------------
venv_hash() {   # venv_hash REQFILE... : what the venv was built from
  {
    echo "recipe $VENV_RECIPE_REV layout $VENV_LAYOUT"
    "$BASE_PY" -c 'import os, sys; print(os.path.realpath(sys.executable), sys.version)'
    for f in "$@"; do echo "== $(basename "$f")"; cat "$f"; done
  } | sha256sum | cut -d' ' -f1
}

ray_head_uses() {   # is a running Ray head using this venv?
  command -v pgrep >/dev/null && pgrep -f "$1/bin/python" >/dev/null 2>&1
}

pip_logged() {   # pip_logged LOG PIP ARGS...
  local logf="$1"; shift
  "$@" --progress-bar off >>"$logf" 2>&1
}

ensure_venv() {   # ensure_venv DIR NAME REQFILE...
  local dir="$1" name="$2"; shift 2
  local h; h="$(venv_hash "$@")"
  if [[ -x "$dir/bin/python" ]] && "$dir/bin/python" -c '' 2>/dev/null \
      && [[ "$(cat "$dir/.griffin-hash" 2>/dev/null || true)" == "$h" ]]; then
    log "venv $name: up to date ($dir)"
    return 0
  fi
  local logf="$LOGDIR/pip-$name.log"; : >"$logf"
  step_start "venv $name: building $dir from $(for f in "$@"; do printf '%s ' "$(basename "$f")"; done)  (log: $logf)"
  if [[ -d "$dir" ]] && ray_head_uses "$dir"; then
    log "  stopping the Ray head that runs from the old venv"
    bash "$SETUP_DIR/ray.sh" stop 9>&- || true
  fi
  rm -rf "$dir"
  "$BASE_PY" -m venv "$dir" >>"$logf" 2>&1 || { tail -n 20 "$logf" >&2; die "python -m venv $dir failed"; }
  local pip=("$dir/bin/python" -m pip)
  local reqargs=(); for f in "$@"; do reqargs+=(-r "$f"); done
  mkdir -p "$WHEELHOUSE"
  # PyPI's Cache-Control headers do not reach us here, so pip's HTTP cache stays empty; keep the
  # wheels in a wheelhouse under the pip cache instead. Install offline from it when it has
  # everything; else download what is missing (one resolution against PyPI) and install offline.
  if ! ls "$WHEELHOUSE"/pip-*.whl >/dev/null 2>&1; then
    pip_logged "$logf" "${pip[@]}" download -q -d "$WHEELHOUSE" pip || { tail -n 20 "$logf" >&2; die "pip download pip failed"; }
  fi
  pip_logged "$logf" "${pip[@]}" install -q --no-index -f "$WHEELHOUSE" --upgrade pip \
    || { tail -n 20 "$logf" >&2; die "upgrading pip failed"; }
  if pip_logged "$logf" "${pip[@]}" install -q --no-compile --no-index -f "$WHEELHOUSE" "${reqargs[@]}"; then
    log "  installed from the wheelhouse ($WHEELHOUSE)"
  else
    log "  downloading wheels from PyPI into $WHEELHOUSE (cold cache: 1-2 min)"
    pip_logged "$logf" "${pip[@]}" download -q -d "$WHEELHOUSE" "${reqargs[@]}" \
      || { tail -n 30 "$logf" >&2; die "pip download failed for $name (log: $logf)"; }
    pip_logged "$logf" "${pip[@]}" install -q --no-compile --no-index -f "$WHEELHOUSE" "${reqargs[@]}" \
      || { tail -n 30 "$logf" >&2; die "pip install failed for $name (log: $logf)"; }
  fi
  if ! "${pip[@]}" check >>"$logf" 2>&1; then
    tail -n 20 "$logf" >&2
    die "pip check reports conflicting requirements in $dir (try GRIFFIN_TEST_VENV_LAYOUT=split)"
  fi
  "${pip[@]}" freeze --exclude-editable >"$dir/griffin-freeze.txt" 2>/dev/null || true
  echo "$h" >"$dir/.griffin-hash"
  rm -f "$dir/.griffin-plugin"
  step_done "venv $name ready"
}

ensure_sdk() {   # editable sdk (griffin-sdk), which the provider depends on; re-installed when its pyproject.toml or path changes
  local dir="$1" sdk="$REPO_ROOT/sdk" marker="$1/.griffin-sdk"
  [[ -f "$sdk/pyproject.toml" ]] || return 0
  local h; h="$( { echo "$sdk"; cat "$sdk/pyproject.toml"; } | sha256sum | cut -d' ' -f1)"
  local from; from="$("$dir/bin/python" -I -c 'import griffin_sdk, os; print(os.path.realpath(griffin_sdk.__file__))' 2>/dev/null || true)"
  if [[ "$(cat "$marker" 2>/dev/null || true)" == "$h" && "$from" == "$(realpath "$sdk")/griffin_sdk/__init__.py" ]]; then
    log "sdk: griffin-sdk installed (editable) in $dir"
    return 0
  fi
  local logf="$LOGDIR/pip-sdk-$(basename "$dir").log"; : >"$logf"
  step_start "sdk: pip install -e sdk into $dir   (log: $logf)"
  pip_logged "$logf" "$dir/bin/python" -m pip install -q -f "$WHEELHOUSE" -e "$sdk" \
    || { tail -n 30 "$logf" >&2; die "pip install -e sdk failed (log: $logf)"; }
  echo "$h" >"$marker"
  step_done "griffin-sdk installed"
}

# A venv with griffin-sdk and pytest only: the SDK's tests run in it, so "no Airflow needed" is checked.
ensure_sdk_venv() {
  local dir="$SDK_VENV"
  if ! [[ -x "$dir/bin/python" ]] || ! "$dir/bin/python" -c '' 2>/dev/null; then
    local logf="$LOGDIR/pip-sdk-venv.log"; : >"$logf"
    step_start "sdk: venv $dir"
    rm -rf "$dir"
    "$BASE_PY" -m venv "$dir" >>"$logf" 2>&1 || { tail -n 20 "$logf" >&2; die "python -m venv $dir failed"; }
    pip_logged "$logf" "$dir/bin/python" -m pip install -q -f "$WHEELHOUSE" "pytest==9.2.0" \
      || { tail -n 30 "$logf" >&2; die "pip install pytest failed in $dir (log: $logf)"; }
    rm -f "$dir/.griffin-sdk"
    step_done "sdk venv ready"
  fi
  ensure_sdk "$dir"
}

ensure_plugin() {   # editable airflow-plugin, re-installed when its pyproject.toml or path changes
  local dir="$1" plugin="$REPO_ROOT/airflow-plugin"
  if [[ ! -f "$plugin/pyproject.toml" ]]; then
    log "airflow: no airflow-plugin/pyproject.toml yet, not installing the provider"
    return 0
  fi
  local h; h="$( { echo "$plugin"; cat "$plugin/pyproject.toml"; } | sha256sum | cut -d' ' -f1)"
  # The marker alone can be stale (another checkout, e.g. a CI clone, or a manual pip install may
  # have installed its own copy since): also require that the venv imports THIS checkout's code.
  local from; from="$("$dir/bin/python" -I -c 'import griffin_provider, os; print(os.path.realpath(griffin_provider.__file__))' 2>/dev/null || true)"
  if [[ "$(cat "$dir/.griffin-plugin" 2>/dev/null || true)" == "$h" \
        && "$from" == "$(realpath "$plugin")/griffin_provider/__init__.py" ]]; then
    log "airflow: airflow-plugin installed (editable)"
    return 0
  fi
  local logf="$LOGDIR/pip-airflow-plugin.log"; : >"$logf"
  step_start "airflow: pip install -e airflow-plugin   (log: $logf)"
  pip_logged "$logf" "$dir/bin/python" -m pip install -q -f "$WHEELHOUSE" -e "$plugin" \
    || { tail -n 30 "$logf" >&2; die "pip install -e airflow-plugin failed (log: $logf)"; }
  echo "$h" >"$dir/.griffin-plugin"
  step_done "airflow-plugin installed"
}

if [[ $NEED_VENV == 1 ]]; then
  AF_REQ="$SETUP_DIR/python-requirements-airflow.txt"
  RAY_REQ="$SETUP_DIR/python-requirements-ray.txt"
  if [[ "$VENV_LAYOUT" == shared ]]; then
    ensure_venv "$AIRFLOW_VENV" shared "$AF_REQ" "$RAY_REQ"
  else
    want airflow && ensure_venv "$AIRFLOW_VENV" airflow "$AF_REQ"
    want ray && ensure_venv "$RAY_VENV" ray "$RAY_REQ"
  fi
  if want airflow; then
    ensure_sdk "$AIRFLOW_VENV"
    ensure_plugin "$AIRFLOW_VENV"
    if [[ ! -f "$AIRFLOW_VENV/.griffin-smoke" || "$AIRFLOW_VENV/.griffin-hash" -nt "$AIRFLOW_VENV/.griffin-smoke" ]]; then
      v="$(AIRFLOW_HOME="$GRIFFIN_TEST_HOME/airflow-home" "$AIRFLOW_VENV/bin/airflow" version 2>>"$LOGDIR/airflow-smoke.log" | tail -n1)" \
        || { tail -n 20 "$LOGDIR/airflow-smoke.log" >&2; die "'airflow version' failed in $AIRFLOW_VENV"; }
      log "airflow: 'airflow version' -> $v"
      touch "$AIRFLOW_VENV/.griffin-smoke"
    fi
  fi
fi

if want airflow; then
  ensure_sdk_venv
fi

# ---- fuzz venv: schemathesis, apart from the Airflow/Ray venv so neither rebuilds the other ----
if want fuzz; then
  ensure_venv "$FUZZ_VENV" fuzz "$SETUP_DIR/python-requirements-fuzz.txt"
fi

# ---- mlflow venv: the real MLflow client (and server, for the bench) apart from Airflow's pins ----
if want mlflow; then
  ensure_venv "$MLFLOW_VENV" mlflow "$SETUP_DIR/python-requirements-mlflow.txt"
fi

# ---- ray head --------------------------------------------------------------------------------
if want ray; then
  step_start "ray: head with the Jobs API on 127.0.0.1:${GRIFFIN_TEST_RAY_DASHBOARD_PORT:-8265}"
  GRIFFIN_RAY_PYTHON="$RAY_VENV/bin/python" bash "$SETUP_DIR/ray.sh" start 9>&-
  step_done "ray ready"
fi

# ---- reference schemas for the manifest tests (Kubernetes OpenAPI, KubeRay CRD) ---------------
if want schemas; then
  step_start "schemas: Kubernetes and KubeRay reference schemas"
  bash "$SETUP_DIR/schemas.sh" >/dev/null 9>&-
  step_done "schemas ready"
fi

# ---- Kubernetes control plane: built once from Go modules (long), cached in ~/.cache/griffin-k8s --
if want k8s; then
  if [[ -n "$K8S_EARLY_BUILD_PID" ]]; then
    wait "$K8S_EARLY_BUILD_PID" || log "k8s: the background build failed (log: $LOGDIR/k8s-build.log); building again"
  fi
  step_start "k8s: control plane at https://127.0.0.1:${GRIFFIN_K8S_APISERVER_PORT:-16443} (first build: see ~/.cache/griffin-k8s/logs)"
  GRIFFIN_K8S_KUBERAY="$K8S_KUBERAY" bash "$REPO_ROOT/tests/k8s/cluster.sh" up 9>&-
  step_done "k8s ready"
fi

# ---- env file: describes what is available now, whichever parts this run touched --------------
venv_ok() { [[ -x "$1/bin/python" && -f "$1/.griffin-hash" ]]; }
# NAME=VENV/bin/EXE when the venv is complete and has its TOOL, else a comment saying why not.
venv_line() {
  local name=$1 venv=$2 tool=$3 exe=$4 missing=$5
  if venv_ok "$venv" && [[ -x "$venv/bin/$tool" ]]; then
    echo "export $name=$(printf '%q' "$venv/bin/$exe")"
  else
    echo "# $name: $missing"
  fi
}
{
  echo "# Written by tests/setup/ensure.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ). Source it: . $ENV_FILE"
  echo "# A part that is not set up has a comment instead of its variables."
  echo "export GRIFFIN_TEST_HOME=$(printf '%q' "$GRIFFIN_TEST_HOME")"
  echo "export GRIFFIN_TEST_SETUP_DIR=$(printf '%q' "$SETUP_DIR")"
  if bash "$SETUP_DIR/postgres.sh" status >/dev/null 2>&1; then
    echo "export GRIFFIN_TEST_PG_URL=$(bash "$SETUP_DIR/postgres.sh" url)"
    echo "export GRIFFIN_TEST_PG_DATA=$(printf '%q' "$(bash "$SETUP_DIR/postgres.sh" datadir)")"
  else
    echo "# GRIFFIN_TEST_PG_URL: PostgreSQL not running (tests/setup/postgres.sh start)"
  fi
  if command -v curl >/dev/null && GRIFFIN_RAY_PYTHON="$RAY_VENV/bin/python" bash "$SETUP_DIR/ray.sh" status >/dev/null 2>&1; then
    echo "export GRIFFIN_TEST_RAY_ADDRESS=http://127.0.0.1:${GRIFFIN_TEST_RAY_DASHBOARD_PORT:-8265}"
  else
    echo "# GRIFFIN_TEST_RAY_ADDRESS: Ray head not running (tests/setup/ray.sh start)"
  fi
  venv_line GRIFFIN_AIRFLOW_PYTHON "$AIRFLOW_VENV" airflow python "no Airflow venv"
  venv_line GRIFFIN_RAY_PYTHON "$RAY_VENV" ray python "no Ray venv"
  if [[ -x "$SDK_VENV/bin/python" && -f "$SDK_VENV/.griffin-sdk" ]]; then
    echo "export GRIFFIN_SDK_PYTHON=$(printf '%q' "$SDK_VENV/bin/python")"
  else
    echo "# GRIFFIN_SDK_PYTHON: no sdk venv (tests/setup/ensure.sh --only airflow)"
  fi
  venv_line GRIFFIN_FUZZ_SCHEMATHESIS "$FUZZ_VENV" schemathesis schemathesis "no fuzz venv (tests/setup/ensure.sh --only fuzz)"
  venv_line GRIFFIN_MLFLOW_PYTHON "$MLFLOW_VENV" mlflow python "no mlflow venv (tests/setup/ensure.sh --only mlflow)"
  if [[ -s "$GRIFFIN_TEST_HOME/schemas/kubernetes-v1.34.0-strict.json" && -s "$GRIFFIN_TEST_HOME/schemas/kuberay-v1.5.0/ray.io_rayjobs.yaml" ]]; then
    echo "export GRIFFIN_TEST_SCHEMAS=$(printf '%q' "$GRIFFIN_TEST_HOME/schemas")"
  else
    echo "# GRIFFIN_TEST_SCHEMAS: reference schemas not fetched (tests/setup/schemas.sh)"
  fi
  if bash "$REPO_ROOT/tests/k8s/cluster.sh" status >/dev/null 2>&1; then
    bash "$REPO_ROOT/tests/k8s/cluster.sh" test-env
  else
    echo "# GRIFFIN_TEST_KUBECONFIG: no Kubernetes control plane (tests/k8s/cluster.sh up)"
  fi
  if [[ -x /usr/bin/chromium ]]; then
    echo "export GRIFFIN_CHROMIUM=/usr/bin/chromium"
  else
    echo "# GRIFFIN_CHROMIUM: chromium not installed"
  fi
} >"$ENV_FILE.tmp"
mv "$ENV_FILE.tmp" "$ENV_FILE"

log "done in $((SECONDS - T0)) s; environment: . $ENV_FILE"
echo "$ENV_FILE"
