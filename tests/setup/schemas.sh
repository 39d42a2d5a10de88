#!/usr/bin/env bash
# Reference schemas for the manifest tests (tests/executors/manifests.test.ts), cached under
# $GRIFFIN_TEST_HOME/schemas and printed as that directory on stdout. Idempotent; instant when cached.
#
#   kubernetes-v<K8S>-strict.json   the Kubernetes OpenAPI definitions, "strict" flavour (objects
#                                   refuse unknown fields), from the kubernetes-validate wheel (PyPI)
#   kuberay-<KUBERAY>/ray.io_rayjobs.yaml
#                                   the KubeRay RayJob CRD, from the Go module
#                                   github.com/ray-project/kuberay/ray-operator (config/crd/bases)
#
# Settings: GRIFFIN_TEST_HOME, GRIFFIN_TEST_PYTHON (python3), GRIFFIN_TEST_K8S_SCHEMA_VERSION (1.34.0),
# GRIFFIN_TEST_KUBERAY_VERSION (v1.5.0).
set -euo pipefail

log() { echo "[setup] schemas: $*" >&2; }
die() { echo "[setup] schemas: ERROR: $*" >&2; exit 1; }

GRIFFIN_TEST_HOME="${GRIFFIN_TEST_HOME:-$HOME/.cache/griffin-test}"
DIR="$GRIFFIN_TEST_HOME/schemas"
PY="${GRIFFIN_TEST_PYTHON:-python3}"
K8S="${GRIFFIN_TEST_K8S_SCHEMA_VERSION:-1.34.0}"
KUBERNETES_VALIDATE="kubernetes-validate==1.37.0"   # carries JSON schemas for Kubernetes 1.25 to 1.37
KUBERAY="${GRIFFIN_TEST_KUBERAY_VERSION:-v1.5.0}"
WHEELHOUSE="${PIP_CACHE_DIR:-$HOME/.cache/pip}/griffin-wheelhouse"
mkdir -p "$DIR"

k8s_file="$DIR/kubernetes-v$K8S-strict.json"
if [[ ! -s "$k8s_file" ]]; then
  mkdir -p "$WHEELHOUSE"
  wheel="$(ls "$WHEELHOUSE"/kubernetes_validate-1.37.0-*.whl 2>/dev/null | head -n1 || true)"
  if [[ -z "$wheel" ]]; then
    log "downloading $KUBERNETES_VALIDATE from PyPI (about 23 MB, once)"
    "$PY" -m pip download -q --no-deps --progress-bar off -d "$WHEELHOUSE" "$KUBERNETES_VALIDATE" >&2 \
      || die "pip download $KUBERNETES_VALIDATE failed"
    wheel="$(ls "$WHEELHOUSE"/kubernetes_validate-1.37.0-*.whl | head -n1)"
  fi
  "$PY" - "$wheel" "kubernetes_validate/kubernetes-json-schema/v$K8S-local-strict/_definitions.json" "$k8s_file.tmp" <<'PY' \
    || die "no Kubernetes $K8S schema in $wheel"
import sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, open(out, "wb") as f:
    f.write(z.read(member))
PY
  mv "$k8s_file.tmp" "$k8s_file"
  log "Kubernetes $K8S definitions -> $k8s_file"
fi

crd_dir="$DIR/kuberay-$KUBERAY"
if [[ ! -s "$crd_dir/ray.io_rayjobs.yaml" ]]; then
  GO="$(command -v go || true)"
  [[ -n "$GO" ]] || { [[ -x /usr/local/go/bin/go ]] && GO=/usr/local/go/bin/go; }
  [[ -n "$GO" ]] || die "go is needed once to fetch the KubeRay CRD (Go module github.com/ray-project/kuberay/ray-operator@$KUBERAY)"
  log "fetching the KubeRay $KUBERAY CRDs with go mod download (once)"
  json="$(cd "$DIR" && GOFLAGS=-mod=mod "$GO" mod download -json "github.com/ray-project/kuberay/ray-operator@$KUBERAY")" \
    || die "go mod download github.com/ray-project/kuberay/ray-operator@$KUBERAY failed"
  mod_dir="$(printf '%s' "$json" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
  mkdir -p "$crd_dir"
  cp "$mod_dir/config/crd/bases/ray.io_rayjobs.yaml" "$crd_dir/ray.io_rayjobs.yaml.tmp"
  chmod 0644 "$crd_dir/ray.io_rayjobs.yaml.tmp"   # the Go module cache is read-only
  mv "$crd_dir/ray.io_rayjobs.yaml.tmp" "$crd_dir/ray.io_rayjobs.yaml"
  log "KubeRay $KUBERAY RayJob CRD -> $crd_dir/ray.io_rayjobs.yaml"
fi

echo "$DIR"
