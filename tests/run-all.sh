#!/usr/bin/env bash
# The whole test suite, every tier, as `npm test` runs it and .ci/run calls it.
# It sets up what it needs first (tests/setup/ensure.sh: npm packages, PostgreSQL, the Python
# virtual environment with Airflow and Ray, a Ray head, Chromium) and reuses what is present.
#   GRIFFIN_TEST_SKIP=airflow,ray,chromium,k8s npm test   # a quicker partial run while developing
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

failed=()
failed_logs=()
# Each tier's output is also kept, so the end of the run can repeat which tests failed: a CI log
# is often read from its tail only.
tier_logs=$(mktemp -d "${TMPDIR:-/tmp}/griffin-tiers.XXXXXX")
trap 'rm -rf "$tier_logs"' EXIT
tier_count=0
tier() {
  local name=$1
  shift
  tier_count=$((tier_count + 1))
  local log="$tier_logs/$tier_count.log"
  echo
  echo "== $name"
  if "$@" 2>&1 | tee "$log"; then
    echo "== $name: ok"
  else
    echo "== $name: FAILED"
    failed+=("$name")
    failed_logs+=("$log")
  fi
}

# The failing tests of a tier's output, with the first lines of each error: vitest's summary
# ("FAIL  file > test" and what follows it) and pytest's short summary ("FAILED"/"ERROR" lines).
failures_of() {
  sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$1" \
    | awk '/Failed Tests|short test summary/ { summary = 1 } summary' \
    | grep -E -A6 '^ *(FAIL |FAILED |ERROR )' | grep -v -E '^ *$' | head -n 80
}

node_tiers() {
  tier "typecheck" npx tsc -p tsconfig.json --noEmit
  # The UI's API types are inferred from the views the routes declare (server/web/src/types.ts):
  # a UI that reads a field the service does not send, or reads it as the wrong type, fails here.
  tier "typecheck: web UI against the API's response views" npx tsc -p server/web/tsconfig.json
  tier "unit, store (SQLite + PostgreSQL), http, executors, system, security, fault, fuzz" npx vitest run
}

python_tiers() {
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
}

# A fresh machine first compiles the Kubernetes control plane from Go modules (15-18 min, niced).
# Only the vitest tier needs it, so then the build runs in the background while the Python tiers
# (which mostly wait on Airflow and the service) run first; the vitest tier starts once it is up.
k8s_first_build=0
if [[ -z "${GRIFFIN_TEST_ONLY:-}" && ",${GRIFFIN_TEST_SKIP:-}," != *,k8s,* && ",${GRIFFIN_TEST_SKIP:-}," != *,kubernetes,* ]] \
    && command -v go >/dev/null && ! bash tests/k8s/cluster.sh built; then
  k8s_first_build=1
fi

echo "== setup"
if ((k8s_first_build)); then
  k8s_build_log="${GRIFFIN_TEST_HOME:-$HOME/.cache/griffin-test}/logs/k8s-build.log"
  mkdir -p "$(dirname "$k8s_build_log")"
  echo "the Kubernetes control plane is not built yet: building it in the background (log: $k8s_build_log)"
  kuberay=1; [[ ",${GRIFFIN_TEST_SKIP:-}," == *,kuberay,* ]] && kuberay=0
  GRIFFIN_K8S_KUBERAY=$kuberay bash tests/k8s/cluster.sh build >"$k8s_build_log" 2>&1 &
  k8s_build_pid=$!
  env_file=$(bash tests/setup/ensure.sh --skip k8s,kuberay)
  # shellcheck disable=SC1090
  source "$env_file"
  python_tiers
  echo
  echo "== setup: the Kubernetes control plane"
  wait "$k8s_build_pid" || echo "the background build failed (log: $k8s_build_log); ensure.sh builds again"
  env_file=$(bash tests/setup/ensure.sh --only k8s,kuberay)
  # shellcheck disable=SC1090
  source "$env_file"
  node_tiers
else
  env_file=$(bash tests/setup/ensure.sh)
  # shellcheck disable=SC1090
  source "$env_file"
  node_tiers
  python_tiers
fi

echo
if ((${#failed[@]})); then
  for i in "${!failed[@]}"; do
    echo "-- what failed in: ${failed[$i]}"
    failures_of "${failed_logs[$i]}" || echo "   (no test names found; see that tier's output above)"
  done
  echo "FAILED tiers: ${failed[*]}"
  exit 1
fi
echo "all test tiers passed"
