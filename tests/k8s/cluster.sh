#!/usr/bin/env bash
# A real Kubernetes control plane on loopback for Griffin's kubernetes and kuberay executor tests.
#
#   tests/k8s/cluster.sh build      build (once) and cache every binary under $GRIFFIN_K8S_HOME
#   tests/k8s/cluster.sh built      exit 0 when every binary is already built (nothing to compile)
#   tests/k8s/cluster.sh up         build if needed, then start (or reuse) the control plane
#   tests/k8s/cluster.sh down       stop what `up` started (by pid file); --purge also wipes its state
#   tests/k8s/cluster.sh status     which pieces run; exit 0 when the API server is ready
#   tests/k8s/cluster.sh env        print `export KUBECONFIG=...` lines (eval "$(tests/k8s/cluster.sh env)")
#   tests/k8s/cluster.sh test-env   the same without KUBECONFIG itself (for tests/setup/ensure.sh's env file)
#
# Pieces: etcd, kube-apiserver, kube-controller-manager (job, garbage collector, namespace, service
# account and token controllers), kube-scheduler, KWOK (one simulated node; pods move by
# tests/k8s/kwok-stages.yaml), the KubeRay CRDs and operator, and a simulated Ray dashboard that the
# operator reaches through an HTTP proxy setting (tests/k8s/ray-dashboard-sim.mjs). No container runs.
# Kubernetes pieces are built from the Go module proxy (k8s.io/kubernetes through the wrapper module
# that tests/k8s/gen-wrapper-gomod.sh writes); see tests/k8s/README.md for versions, ports and timings.
#
# Settings (environment): GRIFFIN_K8S_HOME (~/.cache/griffin-k8s), GRIFFIN_K8S_BUILD_PROCS (GOMAXPROCS
# of the builds, 2), GRIFFIN_K8S_KUBERAY=0 (skip the operator), GRIFFIN_K8S_TIMEOUT (seconds to wait for
# each piece, 120), ports GRIFFIN_K8S_{ETCD,ETCD_PEER,APISERVER,KCM,SCHEDULER,KWOK,KUBERAY_PROBE,RAY_SIM}_PORT.
set -Eeuo pipefail

K8S_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$K8S_DIR/../.." && pwd)"

KUBE_VERSION=v1.34.4     # k8s.io/kubernetes; its staging modules are v0.34.4
ETCD_VERSION=v3.6.5      # go.etcd.io/etcd/server/v3: the etcd that Kubernetes 1.34 ships with (kubeadm DefaultEtcdVersion)
ETCD_MIN_VERSION=3.5.24  # kubeadm's MinExternalEtcdVersion for 1.34: an older system etcd is not used
KWOK_VERSION=v0.8.0      # sigs.k8s.io/kwok
KUBERAY_VERSION=v1.5.0   # github.com/ray-project/kuberay/ray-operator

K8S_HOME="${GRIFFIN_K8S_HOME:-$HOME/.cache/griffin-k8s}"
BIN="$K8S_HOME/bin"
SRC="$K8S_HOME/src"
BUILD_LOGS="$K8S_HOME/logs"
RUN="$K8S_HOME/run"
PKI="$RUN/pki"
PIDS="$RUN/pids"
LOGS="$RUN/logs"
TIMEOUT="${GRIFFIN_K8S_TIMEOUT:-120}"

ETCD_PORT="${GRIFFIN_K8S_ETCD_PORT:-12379}"
ETCD_PEER_PORT="${GRIFFIN_K8S_ETCD_PEER_PORT:-12380}"
APISERVER_PORT="${GRIFFIN_K8S_APISERVER_PORT:-16443}"
KCM_PORT="${GRIFFIN_K8S_KCM_PORT:-16457}"
SCHEDULER_PORT="${GRIFFIN_K8S_SCHEDULER_PORT:-16459}"
KWOK_PORT="${GRIFFIN_K8S_KWOK_PORT:-16450}"
KUBERAY_PROBE_PORT="${GRIFFIN_K8S_KUBERAY_PROBE_PORT:-16481}"
RAY_SIM_PORT="${GRIFFIN_K8S_RAY_SIM_PORT:-16465}"
# Service IPs are only allocated, never dialled: nothing here runs kube-proxy or sends to them.
SERVICE_CIDR=10.96.0.0/16
# Pod IPs come from loopback so that nothing can ever send traffic off the machine to one.
POD_CIDR=127.88.0.1/16
NODE_NAME=griffin-kwok-0
APISERVER_URL="https://127.0.0.1:$APISERVER_PORT"

KUBE_BIN="$BIN/kubernetes-$KUBE_VERSION"
KWOK_BIN="$BIN/kwok-$KWOK_VERSION"
KUBERAY_DIR="$BIN/kuberay-$KUBERAY_VERSION"
ETCD_BUILT="$BIN/etcd-$ETCD_VERSION/etcd"

log() { echo "[k8s] $*" >&2; }
die() { echo "[k8s] ERROR: $*" >&2; exit 1; }

# ---- build -------------------------------------------------------------------------------------
# Every build: niced, at most GRIFFIN_K8S_BUILD_PROCS threads, one binary at a time, timed into
# $K8S_HOME/build-times.tsv. Modules come from the Go module proxy (GOPROXY as configured).
GO_ENV=(env GOMAXPROCS="${GRIFFIN_K8S_BUILD_PROCS:-2}" CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false")

record_time() {   # record_time PIECE VERSION SECONDS STATUS
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2" "$3" "$4" >>"$K8S_HOME/build-times.tsv"
}

timed_build() {   # timed_build PIECE VERSION LOG CMD... : runs CMD niced, logs, times it
  local piece=$1 version=$2 logf=$3; shift 3
  command -v go >/dev/null || die "go is required to build $piece (Go 1.24 or newer; only the first start builds)"
  local t0=$SECONDS
  log "building $piece $version (niced; log: $logf)"
  if nice -n 19 "$@" >"$logf" 2>&1; then
    record_time "$piece" "$version" $((SECONDS - t0)) ok
    log "  ... $piece built in $((SECONDS - t0)) s"
  else
    record_time "$piece" "$version" $((SECONDS - t0)) failed
    tail -n 25 "$logf" >&2
    log "  ... building $piece FAILED after $((SECONDS - t0)) s (full log: $logf)"
    return 1
  fi
}

kube_ldflags() {
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local ld="-s -w" p
  # The same version stamps that Kubernetes' own build (hack/lib/version.sh) writes.
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$ld"
}

build_kubernetes() {
  local wrapper="$SRC/kubernetes-$KUBE_VERSION" cmd
  mkdir -p "$KUBE_BIN"
  for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
    [[ -x "$KUBE_BIN/$cmd" ]] && continue
    if [[ ! -f "$wrapper/go.mod" ]] || ! grep -q "k8s.io/kubernetes $KUBE_VERSION" "$wrapper/go.mod"; then
      (cd "$K8S_HOME" && "${GO_ENV[@]}" bash "$K8S_DIR/gen-wrapper-gomod.sh" "$KUBE_VERSION" "$wrapper")
    fi
    # providerless: no cloud-provider code, which none of this needs.
    (cd "$wrapper" && timed_build "$cmd" "$KUBE_VERSION" "$BUILD_LOGS/build-$cmd-$KUBE_VERSION.log" \
      "${GO_ENV[@]}" go build -trimpath -tags providerless -ldflags "$(kube_ldflags)" \
      -o "$KUBE_BIN/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd") || return 1
    mv "$KUBE_BIN/$cmd.tmp" "$KUBE_BIN/$cmd"
  done
}

version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }

system_etcd_ok() {   # a Debian etcd-server new enough for this Kubernetes?
  local v=""
  if [[ -x /usr/bin/etcd ]]; then
    v="$(/usr/bin/etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p' | head -n1)"
  elif command -v apt-cache >/dev/null; then
    v="$(apt-cache policy etcd-server 2>/dev/null | sed -n 's/^ *Candidate: \([0-9.]*\).*/\1/p' | head -n1)"
    [[ -n "$v" && "$v" != "(none)" ]] && version_ge "$v" "$ETCD_MIN_VERSION" && [[ $EUID -eq 0 ]] \
      && apt-get install -y -q etcd-server >"$BUILD_LOGS/apt-etcd.log" 2>&1 \
      && v="$(/usr/bin/etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p' | head -n1)"
  fi
  [[ -n "$v" ]] && version_ge "$v" "$ETCD_MIN_VERSION"
}

etcd_binary() {
  if [[ -x "$ETCD_BUILT" ]]; then echo "$ETCD_BUILT"
  elif [[ -x /usr/bin/etcd ]] && system_etcd_ok; then echo /usr/bin/etcd
  else return 1; fi
}

build_etcd() {
  etcd_binary >/dev/null && return 0
  # Debian 12's etcd-server is 3.4.23, older than Kubernetes 1.34 accepts: build the one it ships with.
  system_etcd_ok && return 0
  local wrapper="$SRC/etcd-$ETCD_VERSION"
  mkdir -p "$wrapper" "$(dirname "$ETCD_BUILT")"
  # A wrapper module: the server module's own go.mod has replace directives, so `go install @version`
  # refuses it, but it builds fine as a dependency.
  if [[ ! -f "$wrapper/go.mod" ]]; then
    printf '// Generated by tests/k8s/cluster.sh; do not edit.\nmodule griffin.test/etcd\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' \
      "$ETCD_VERSION" >"$wrapper/go.mod"
    printf '// Package wrapper lets `go build go.etcd.io/etcd/server/v3` resolve the etcd modules.\npackage wrapper\n' >"$wrapper/doc.go"
  fi
  (cd "$wrapper" && timed_build etcd "$ETCD_VERSION" "$BUILD_LOGS/build-etcd-$ETCD_VERSION.log" \
    "${GO_ENV[@]}" go build -trimpath -ldflags "-s -w" -o "$ETCD_BUILT.tmp" go.etcd.io/etcd/server/v3) || return 1
  mv "$ETCD_BUILT.tmp" "$ETCD_BUILT"
}

build_kwok() {
  [[ -x "$KWOK_BIN/kwok" ]] && return 0
  mkdir -p "$KWOK_BIN.tmp"
  # `go install pkg@version` builds in module mode from the module's own go.mod (no -mod flag allowed).
  timed_build kwok "$KWOK_VERSION" "$BUILD_LOGS/build-kwok-$KWOK_VERSION.log" \
    env GOMAXPROCS="${GRIFFIN_K8S_BUILD_PROCS:-2}" CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN="$KWOK_BIN.tmp" \
    go install -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" || return 1
  rm -rf "$KWOK_BIN"; mv "$KWOK_BIN.tmp" "$KWOK_BIN"
}

kuberay_crds() {   # copy the CRDs out of the module (they come with it; no build needed)
  [[ -f "$KUBERAY_DIR/crds/ray.io_rayjobs.yaml" ]] && return 0
  local dir
  dir="$(cd "$K8S_HOME" && GOFLAGS=-mod=mod go mod download -json "github.com/ray-project/kuberay/ray-operator@$KUBERAY_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -d "$dir/config/crd/bases" ]] || { log "KubeRay $KUBERAY_VERSION: no config/crd/bases in the module"; return 1; }
  mkdir -p "$KUBERAY_DIR/crds.tmp"
  cp "$dir"/config/crd/bases/*.yaml "$KUBERAY_DIR/crds.tmp/"
  chmod u+w "$KUBERAY_DIR"/crds.tmp/*.yaml
  rm -rf "$KUBERAY_DIR/crds"; mv "$KUBERAY_DIR/crds.tmp" "$KUBERAY_DIR/crds"
}

build_kuberay() {
  mkdir -p "$KUBERAY_DIR"
  kuberay_crds || return 1
  [[ -x "$KUBERAY_DIR/ray-operator" ]] && return 0
  rm -rf "$KUBERAY_DIR/gobin"; mkdir -p "$KUBERAY_DIR/gobin"
  timed_build ray-operator "$KUBERAY_VERSION" "$BUILD_LOGS/build-ray-operator-$KUBERAY_VERSION.log" \
    env GOMAXPROCS="${GRIFFIN_K8S_BUILD_PROCS:-2}" CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN="$KUBERAY_DIR/gobin" \
    go install -trimpath -ldflags "-s -w" "github.com/ray-project/kuberay/ray-operator@$KUBERAY_VERSION" || return 1
  mv "$KUBERAY_DIR/gobin/ray-operator" "$KUBERAY_DIR/ray-operator"
  rmdir "$KUBERAY_DIR/gobin"
}

do_build() {
  mkdir -p "$BIN" "$SRC" "$BUILD_LOGS"
  exec 8>"$K8S_HOME/.build.lock"
  flock -w 7200 8 || die "another build holds $K8S_HOME/.build.lock"
  build_kubernetes || die "kube-apiserver/kube-controller-manager/kube-scheduler did not build (logs in $BUILD_LOGS)"
  build_etcd || die "etcd did not build (log: $BUILD_LOGS/build-etcd-$ETCD_VERSION.log)"
  build_kwok || die "kwok did not build (log: $BUILD_LOGS/build-kwok-$KWOK_VERSION.log)"
  if [[ "${GRIFFIN_K8S_KUBERAY:-1}" != 0 ]]; then
    # The KubeRay operator is optional: without it the CRDs still validate RayJobs, they just never move.
    build_kuberay || log "WARNING: the KubeRay operator did not build; RayJobs will not move (log: $BUILD_LOGS)"
  fi
  flock -u 8
}

do_built() {
  local cmd
  for cmd in kube-apiserver kube-controller-manager kube-scheduler; do [[ -x "$KUBE_BIN/$cmd" ]] || return 1; done
  [[ -x "$ETCD_BUILT" ]] || { [[ -x /usr/bin/etcd ]] && system_etcd_ok; } || return 1
  [[ -x "$KWOK_BIN/kwok" ]] || return 1
  [[ "${GRIFFIN_K8S_KUBERAY:-1}" == 0 || -x "$KUBERAY_DIR/ray-operator" ]]
}

# ---- certificates and kubeconfigs --------------------------------------------------------------
issue_cert() {   # issue_cert NAME CN ORG(or "") EKU(serverAuth|clientAuth) [SANS] [CA NAME]
  local name=$1 cn=$2 org=$3 eku=$4 sans=${5:-} ca=${6:-ca}
  [[ -f "$PKI/$name.crt" && -f "$PKI/$name.key" ]] && return 0
  local subj="/CN=$cn"; [[ -n "$org" ]] && subj+="/O=$org"
  local ext="$PKI/$name.ext"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [[ -n "$sans" ]] && echo "subjectAltName=$sans"
  } >"$ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$PKI/$name.key" -out "$PKI/$name.csr" -subj "$subj" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

write_kubeconfig() {   # write_kubeconfig NAME CERTNAME
  local f="$RUN/$1.kubeconfig"
  cat >"$f.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: griffin-test
  cluster:
    server: $APISERVER_URL
    certificate-authority: $PKI/ca.crt
users:
- name: $1
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: $1@griffin-test
  context:
    cluster: griffin-test
    user: $1
current-context: $1@griffin-test
EOF
  mv "$f.tmp" "$f"
}

new_ca() {   # new_ca NAME CN
  [[ -f "$PKI/$1.crt" ]] && return 0
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -keyout "$PKI/$1.key" -out "$PKI/$1.crt" -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}

ensure_pki() {
  command -v openssl >/dev/null || die "openssl is required"
  mkdir -p "$PKI"; chmod 700 "$PKI"
  new_ca ca griffin-test-ca
  # The request-header (front proxy) CA, apart from the client CA as kubeadm keeps it: the controller
  # manager and scheduler read it for their delegated authentication.
  new_ca front-proxy-ca griffin-test-front-proxy-ca
  issue_cert front-proxy-client front-proxy-client "" clientAuth "" front-proxy-ca
  issue_cert apiserver kube-apiserver "" serverAuth \
    "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  issue_cert kwok-serving "$NODE_NAME" "" serverAuth "IP:127.0.0.1,DNS:localhost,DNS:$NODE_NAME"
  issue_cert admin griffin-test-admin system:masters clientAuth
  issue_cert kube-controller-manager system:kube-controller-manager "" clientAuth
  issue_cert kube-scheduler system:kube-scheduler "" clientAuth
  issue_cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters clientAuth
  # The service-account signing key: the API server signs tokens (TokenRequest), the controller
  # manager signs legacy token Secrets, both with this pair.
  if [[ ! -f "$PKI/sa.key" ]]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  chmod 600 "$PKI"/*.key
  write_kubeconfig admin admin
  write_kubeconfig kube-controller-manager kube-controller-manager
  write_kubeconfig kube-scheduler kube-scheduler
}

# ---- processes ---------------------------------------------------------------------------------
pid_of() { cat "$PIDS/$1.pid" 2>/dev/null || true; }

alive() {   # alive NAME : the pid in NAME.pid is alive
  local pid; pid="$(pid_of "$1")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

running() {   # running NAME : the pid in NAME.pid is alive and still runs the binary we started
  alive "$1" || return 1
  local want; want="$(cat "$PIDS/$1.cmd" 2>/dev/null || true)"
  [[ -z "$want" ]] && return 0
  # Read first, then compare: `tr | grep -q` under pipefail fails when grep closes the pipe early.
  local cmdline; cmdline="$(tr '\0' ' ' <"/proc/$(pid_of "$1")/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *"$want"* ]]
}

execed() {   # execed PID BINARY : PID's executable is BINARY (the setsid and env in front have exec'd)
  local target; target="$(readlink -f -- "$(command -v -- "$2" || echo "$2")" 2>/dev/null)" || return 1
  [[ "$(readlink -f -- "/proc/$1/exe" 2>/dev/null)" == "$target" ]]
}

start_proc() {   # start_proc NAME ENV_ASSIGNMENTS... -- BINARY ARGS...
  local name=$1; shift
  local envs=()
  while [[ $# -gt 0 && "$1" != "--" ]]; do envs+=("$1"); shift; done
  shift
  if running "$name"; then log "$name: already running (pid $(pid_of "$name"))"; return 0; fi
  mkdir -p "$PIDS" "$LOGS"
  [[ -f "$LOGS/$name.log" ]] && mv -f "$LOGS/$name.log" "$LOGS/$name.previous.log"
  echo "$1 ${2:-}" >"$PIDS/$name.cmd"
  # setsid: the control plane outlives the shell that started it (tests run later, in other shells).
  # The lock descriptors (7, 8 here; 9 in tests/setup/ensure.sh) are closed for it, or the daemon
  # would hold those locks for as long as it runs.
  setsid env "${envs[@]}" "$@" >"$LOGS/$name.log" 2>&1 </dev/null 7>&- 8>&- 9>&- &
  local pid=$!
  echo "$pid" >"$PIDS/$name.pid"
  # Until setsid and env have exec'd the binary, the command line is theirs, and in the middle of an
  # exec /proc/PID/cmdline reads empty: `running` would call a healthy start "exited". Wait for the
  # binary itself (slow under load).
  local tries=0
  while ((tries < 100)) && kill -0 "$pid" 2>/dev/null && ! { execed "$pid" "$1" && running "$name"; }; do
    sleep 0.1; tries=$((tries + 1))
  done
  log "$name: started (pid $pid, log $LOGS/$name.log)"
}

stop_proc() {
  local name=$1 pid; pid="$(pid_of "$name")"
  if [[ -n "$pid" ]] && running "$name"; then
    kill -TERM "$pid" 2>/dev/null || true
    local i; for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    log "$name: stopped (pid $pid)"
  fi
  rm -f "$PIDS/$name.pid" "$PIDS/$name.cmd"
}

wait_for() {   # wait_for NAME CMD... : until CMD succeeds, failing early if NAME's process died
  local name=$1; shift
  local deadline=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    # Whether it died, not whether it is ours: start_proc has just checked that.
    if ! alive "$name"; then
      tail -n 30 "$LOGS/$name.log" >&2 || true
      die "$name exited during start-up (log: $LOGS/$name.log)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$LOGS/$name.log" >&2 || true
      die "$name did not become ready within ${TIMEOUT}s (log: $LOGS/$name.log)"
    fi
    sleep 0.5
  done
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

require_port() {   # require_port NAME PORT: before starting NAME, nobody else may hold its port
  running "$1" && return 0
  port_free "$2" || die "port $2 (for $1) is in use by another program; stop it or set GRIFFIN_K8S_*_PORT"
}

api_get() {   # api_get PATH: GET from the API server as the admin
  curl -fsS --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$APISERVER_URL$1"
}

kube_node() { (cd "$REPO_ROOT" && node "$K8S_DIR/kube.mjs" --kubeconfig "$RUN/admin.kubeconfig" "$@"); }

start_etcd() {
  local etcd; etcd="$(etcd_binary)" || die "no etcd binary (run: $0 build)"
  require_port etcd "$ETCD_PORT"
  start_proc etcd -- "$etcd" --name griffin-test --data-dir "$RUN/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "griffin-test=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
    --log-level warn --quota-backend-bytes 1073741824 \
    --auto-compaction-mode periodic --auto-compaction-retention 5m --unsafe-no-fsync
  wait_for etcd curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {
  require_port kube-apiserver "$APISERVER_PORT"
  start_proc kube-apiserver -- "$KUBE_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --authorization-mode Node,RBAC --allow-privileged=true \
    --endpoint-reconciler-type none \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
    --profiling=false --event-ttl 30m --v 1
  wait_for kube-apiserver api_get /readyz
}

start_controller_manager() {
  require_port kube-controller-manager "$KCM_PORT"
  # Only the controllers Griffin's executors depend on (no node lifecycle: KWOK's node never goes
  # NotReady; no endpoints: pod IPs are simulated).
  start_proc kube-controller-manager -- "$KUBE_BIN/kube-controller-manager" \
    --kubeconfig "$RUN/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig "$RUN/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig "$RUN/kube-controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --controllers job-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,ttl-after-finished-controller,root-ca-certificate-publisher-controller \
    --concurrent-gc-syncs 5 --profiling=false --v 1
  wait_for kube-controller-manager curl -fsSk --max-time 2 "https://127.0.0.1:$KCM_PORT/healthz"
}

start_scheduler() {
  require_port kube-scheduler "$SCHEDULER_PORT"
  start_proc kube-scheduler -- "$KUBE_BIN/kube-scheduler" \
    --kubeconfig "$RUN/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig "$RUN/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig "$RUN/kube-scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --leader-elect=false --profiling=false --v 1
  wait_for kube-scheduler curl -fsSk --max-time 2 "https://127.0.0.1:$SCHEDULER_PORT/healthz"
}

start_kwok() {
  require_port kwok "$KWOK_PORT"
  mkdir -p "$RUN/kwok"
  # What `kubectl logs` (and an executor's logs()) shows for any simulated container, in CRI format.
  printf '%s stdout F griffin test cluster: simulated container log (KWOK)\n%s stdout F no process runs here; the pod phase comes from tests/k8s/kwok-stages.yaml\n' \
    "1970-01-01T00:00:00.000000000Z" "1970-01-01T00:00:00.000000001Z" >"$RUN/kwok/container.log"
  cat "$K8S_DIR/kwok-stages.yaml" - >"$RUN/kwok/config.yaml" <<EOF
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: griffin-simulated-logs
spec:
  logs:
  - logsFile: $RUN/kwok/container.log
    follow: false
EOF
  kube_node ensure-node "$NODE_NAME"
  start_proc kwok -- "$KWOK_BIN/kwok" --config "$RUN/kwok/config.yaml" \
    --kubeconfig "$RUN/admin.kubeconfig" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-ip 127.0.0.1 --node-port "$KWOK_PORT" --cidr "$POD_CIDR" \
    --server-address "127.0.0.1:$KWOK_PORT" \
    --tls-cert-file "$PKI/kwok-serving.crt" --tls-private-key-file "$PKI/kwok-serving.key" \
    --node-lease-duration-seconds 40
  wait_for kwok kube_node node-ready "$NODE_NAME"
}

start_ray_sim() {
  require_port ray-dashboard-sim "$RAY_SIM_PORT"
  start_proc ray-dashboard-sim -- node "$K8S_DIR/ray-dashboard-sim.mjs" \
    --port "$RAY_SIM_PORT" --kubeconfig "$RUN/admin.kubeconfig"
  wait_for ray-dashboard-sim curl -fsS --max-time 2 "http://127.0.0.1:$RAY_SIM_PORT/healthz"
}

start_kuberay() {
  kube_node apply "$KUBERAY_DIR/crds"
  if [[ "${GRIFFIN_K8S_KUBERAY:-1}" == 0 ]]; then log "KubeRay operator: skipped (GRIFFIN_K8S_KUBERAY=0)"; return 0; fi
  if [[ ! -x "$KUBERAY_DIR/ray-operator" ]]; then
    log "WARNING: no KubeRay operator binary; RayJobs are validated but do not move"
    return 0
  fi
  start_ray_sim
  require_port kuberay-operator "$KUBERAY_PROBE_PORT"
  # The operator reaches a RayCluster's dashboard at http://<head-service>.<ns>.svc.cluster.local:8265;
  # with no cluster DNS here, an HTTP proxy setting sends those requests to the simulated dashboard.
  # Requests to the API server (loopback) never go through a proxy.
  start_proc kuberay-operator HTTP_PROXY="http://127.0.0.1:$RAY_SIM_PORT" http_proxy="http://127.0.0.1:$RAY_SIM_PORT" \
    NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost KUBECONFIG="$RUN/admin.kubeconfig" \
    -- "$KUBERAY_DIR/ray-operator" --kubeconfig "$RUN/admin.kubeconfig" \
    --metrics-addr 0 --health-probe-bind-address "127.0.0.1:$KUBERAY_PROBE_PORT" \
    --enable-leader-election=false --log-stdout-encoder console
  wait_for kuberay-operator curl -fsS --max-time 2 "http://127.0.0.1:$KUBERAY_PROBE_PORT/readyz"
}

do_up() {
  local t0=$SECONDS
  command -v curl >/dev/null || die "curl is required"
  command -v node >/dev/null || die "node is required (the manifests are applied with @kubernetes/client-node)"
  [[ -d "$REPO_ROOT/node_modules/@kubernetes/client-node" ]] || die "node_modules missing: run npm ci first"
  do_build
  exec 7>"$K8S_HOME/.up.lock"
  flock -w 600 7 || die "another '$0 up' holds $K8S_HOME/.up.lock"
  mkdir -p "$RUN" "$PIDS" "$LOGS"
  ensure_pki
  if ! running etcd; then rm -rf "$RUN/etcd"; fi   # a fresh start gets a fresh, empty cluster
  start_etcd
  start_apiserver
  start_controller_manager
  start_scheduler
  start_kwok
  start_kuberay
  log "control plane ready at $APISERVER_URL in $((SECONDS - t0)) s ($(memory_summary))"
  log "use it: eval \"\$($0 env)\"; kubectl get --raw /readyz"
}

do_down() {
  local name
  for name in kuberay-operator ray-dashboard-sim kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    stop_proc "$name"
  done
  if [[ "${1:-}" == "--purge" ]]; then rm -rf "$RUN"; log "removed $RUN"; fi
}

memory_summary() {   # resident memory of the running pieces
  local total=0 parts=() name pid rss
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler kwok kuberay-operator ray-dashboard-sim; do
    running "$name" || continue
    pid="$(pid_of "$name")"
    rss="$(awk '/^VmRSS:/ {print int($2/1024)}' "/proc/$pid/status" 2>/dev/null || echo 0)"
    total=$((total + rss)); parts+=("$name ${rss}M")
  done
  echo "RSS ${total} MiB: ${parts[*]:-nothing running}"
}

do_status() {
  local name rc=0
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler kwok ray-dashboard-sim kuberay-operator; do
    if running "$name"; then echo "$name: running (pid $(pid_of "$name"))"; else echo "$name: not running"; fi
  done
  if [[ -f "$PKI/admin.crt" ]] && api_get /readyz >/dev/null 2>&1; then
    echo "kube-apiserver: /readyz ok at $APISERVER_URL"
  else
    echo "kube-apiserver: not ready"; rc=3
  fi
  memory_summary
  return $rc
}

do_env() {
  echo "export KUBECONFIG=$(printf '%q' "$RUN/admin.kubeconfig")"
  echo "export GRIFFIN_TEST_KUBECONFIG=$(printf '%q' "$RUN/admin.kubeconfig")"
  if running kuberay-operator; then
    echo "export GRIFFIN_TEST_KUBERAY=1"
    echo "export GRIFFIN_TEST_RAY_SIM_URL=http://127.0.0.1:$RAY_SIM_PORT"
  fi
}

# Sourced (for debugging one function), define everything and stop here.
[[ "${BASH_SOURCE[0]}" != "$0" ]] && return 0

case "${1:-}" in
  build) do_build ;;
  built) do_built ;;
  up) do_up ;;
  down) shift; do_down "$@" ;;
  status) do_status ;;
  env) do_env ;;
  test-env) do_env | grep -v '^export KUBECONFIG=' ;;
  *) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
