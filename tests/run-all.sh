#!/usr/bin/env bash
# The whole test suite, every tier, as `npm test` runs it and .ci/run calls it.
# It sets up what it needs first (tests/setup/ensure.sh: npm packages, PostgreSQL, the Python
# virtual environment with Airflow and Ray, a Ray head, Chromium) and reuses what is present.
#   GRIFFIN_TEST_SKIP=airflow,ray,chromium,k8s npm test   # a quicker partial run while developing
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== setup"
env_file=$(bash tests/setup/ensure.sh)
# shellcheck disable=SC1090
source "$env_file"

failed=()
tier() {
  local name=$1
  shift
  echo
  echo "== $name"
  if "$@"; then echo "== $name: ok"; else echo "== $name: FAILED"; failed+=("$name"); fi
}

tier "typecheck" npx tsc -p tsconfig.json --noEmit
# The UI's API types are inferred from the views the routes declare (server/web/src/types.ts):
# a UI that reads a field the service does not send, or reads it as the wrong type, fails here.
tier "typecheck: web UI against the API's response views" npx tsc -p server/web/tsconfig.json
tier "unit, store (SQLite + PostgreSQL), http, executors, system, security, fault, fuzz" npx vitest run

python_bin="${GRIFFIN_AIRFLOW_PYTHON:-python3}"
pytest_targets=(server/runtime/python examples airflow-plugin/tests)
if [[ ",${GRIFFIN_TEST_SKIP:-}," == *,airflow,* ]]; then
  # Without the Airflow venv only the stdlib parts can be tested.
  python_bin=python3
  pytest_targets=(server/runtime/python examples)
fi
tier "python: training helper, examples, Airflow provider" "$python_bin" -m pytest -q -p no:cacheprovider \
  --ignore=airflow-plugin/tests/deployment "${pytest_targets[@]}"

# The Python SDK in a venv of its own that has no Airflow (tests/setup/ensure.sh makes it).
if [[ -n "${GRIFFIN_SDK_PYTHON:-}" ]]; then
  tier "python SDK: griffin-sdk without Airflow, against the real service" \
    "$GRIFFIN_SDK_PYTHON" -m pytest -q -p no:cacheprovider sdk/tests
fi

# A real Airflow 3 deployment (api-server, scheduler, dag-processor, triggerer; LocalExecutor on
# PostgreSQL) against the real service: restarts, clears, kills and deadlines. A few minutes.
if [[ ",${GRIFFIN_TEST_SKIP:-}," != *,airflow,* ]]; then
  tier "Airflow deployment: the provider in a running Airflow" \
    "$GRIFFIN_AIRFLOW_PYTHON" -m pytest -q -p no:cacheprovider airflow-plugin/tests/deployment
fi

echo
if ((${#failed[@]})); then
  echo "FAILED tiers: ${failed[*]}"
  exit 1
fi
echo "all test tiers passed"
