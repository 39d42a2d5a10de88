#!/usr/bin/env bash
# The MLflow venv for the registry benchmark, apart from the test venvs so that neither rebuilds
# the other: ~/.cache/griffin-bench/venv (GRIFFIN_BENCH_HOME), built from bench/requirements-mlflow.txt
# and rebuilt when that file changes. Wheels are kept in the same wheelhouse tests/setup/ensure.sh
# uses, so a second build is offline. Prints the venv's python on stdout.
set -Eeuo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HOME_DIR="${GRIFFIN_BENCH_HOME:-$HOME/.cache/griffin-bench}"
VENV="$HOME_DIR/venv"
REQ="$BENCH_DIR/requirements-mlflow.txt"
WHEELHOUSE="${PIP_CACHE_DIR:-$HOME/.cache/pip}/griffin-wheelhouse"
BASE_PY="${GRIFFIN_TEST_PYTHON:-python3}"
LOG="$HOME_DIR/pip-mlflow.log"
log() { echo "[bench] $*" >&2; }

mkdir -p "$HOME_DIR" "$WHEELHOUSE"
exec 9>"$HOME_DIR/.setup.lock"
flock -w 900 9 || { log "ERROR: another setup-mlflow.sh holds $HOME_DIR/.setup.lock"; exit 1; }

hash="$( { "$BASE_PY" -c 'import os, sys; print(os.path.realpath(sys.executable), sys.version)'; cat "$REQ"; } | sha256sum | cut -d' ' -f1)"
if [[ -x "$VENV/bin/mlflow" && "$(cat "$VENV/.griffin-hash" 2>/dev/null || true)" == "$hash" ]]; then
  echo "$VENV/bin/python"
  exit 0
fi
log "building the MLflow venv in $VENV (log: $LOG; a cold wheel cache downloads ~300 MB)"
: >"$LOG"
rm -rf "$VENV"
"$BASE_PY" -m venv "$VENV" >>"$LOG" 2>&1
pip=("$VENV/bin/python" -m pip)
if ! "${pip[@]}" install --progress-bar off -q --no-compile --no-index -f "$WHEELHOUSE" -r "$REQ" >>"$LOG" 2>&1; then
  "${pip[@]}" download --progress-bar off -q -d "$WHEELHOUSE" -r "$REQ" >>"$LOG" 2>&1 || { tail -n 20 "$LOG" >&2; log "ERROR: pip download failed"; exit 1; }
  "${pip[@]}" install --progress-bar off -q --no-compile --no-index -f "$WHEELHOUSE" -r "$REQ" >>"$LOG" 2>&1 || { tail -n 20 "$LOG" >&2; log "ERROR: pip install failed"; exit 1; }
fi
echo "$hash" >"$VENV/.griffin-hash"
log "MLflow venv ready: $("$VENV/bin/mlflow" --version 2>/dev/null || echo '?')"
echo "$VENV/bin/python"
