#!/usr/bin/env bash
# A local Kubernetes control plane for the chart's cluster test (tests/deploy/test_cluster.py).
#
#   scripts/cluster.sh build    build into .cache/cluster/bin (cached; rebuilt only when a pin changes)
#   scripts/cluster.sh up       start etcd, kube-apiserver, controller-manager, scheduler and kwok on loopback
#   scripts/cluster.sh down     stop exactly the processes `up` started (their PIDs are in .cache/cluster/run/pids)
#   scripts/cluster.sh status   one line per process
#
# Built from the Go module proxy (no prebuilt binary can be downloaded here): the control plane is one
# multi-call binary from the wrapper module infra/cluster (Kubernetes v1.36.3, etcd v3.6.8), kubectl from the
# same module, kwok v0.8.0 with its own module's Stage documents. kwok plays the kubelet: it marks pods
# Running/Ready (and Job pods Succeeded) without running any container.
#
# Loopback only: etcd 127.0.0.1:12379/12380, kube-apiserver https://127.0.0.1:16443 (self-signed CA made
# with openssl, a token for the admin). The service CIDR 10.96.0.0/16 is only a string in object status:
# nothing listens there and no traffic goes there.
#
# Environment: CLUSTER_DIR (default .cache/cluster), CLUSTER_ETCD_PORT (12379), CLUSTER_API_PORT (16443).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

K8S_VERSION=v1.36.3
ETCD_VERSION=v3.6.8   # the etcd that k8s.io/kubernetes v1.36.3 requires
KWOK_VERSION=v0.8.0

dir="${CLUSTER_DIR:-$root/.cache/cluster}"
bin="$dir/bin"
run="$dir/run"
etcd_port="${CLUSTER_ETCD_PORT:-12379}"
api_port="${CLUSTER_API_PORT:-16443}"
plane="$bin/zoomsymbl-cluster"
kubeconfig="$run/kubeconfig"

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------- build
stamp_of_sources() {
  # Anything that changes what `build` produces: the pins above and the wrapper module's files.
  { echo "$K8S_VERSION $ETCD_VERSION $KWOK_VERSION $(go env GOVERSION)"; cat "$root"/infra/cluster/go.mod \
    "$root"/infra/cluster/go.sum "$root"/infra/cluster/main.go "$root"/infra/cluster/kubectl/main.go; } \
    | sha256sum | cut -d' ' -f1
}

write_stages() {
  # kwok's own Stage documents (node-initialize, node-heartbeat-with-lease, pod-ready, pod-complete,
  # pod-delete: its "fast" set with leases) from its module, plus ours (infra/cluster/stages.yaml). Written on
  # every build, so a change to ours needs no rebuild of the binaries.
  local kwok_dir stage tmp
  kwok_dir="$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -n "$kwok_dir" ]] || die "sigs.k8s.io/kwok@$KWOK_VERSION not in the Go module cache"
  tmp="$(mktemp "$bin/.stages.XXXXXX")"
  for stage in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease pod/fast/pod-ready \
      pod/fast/pod-complete pod/fast/pod-delete; do
    cat "$kwok_dir/kustomize/stage/$stage.yaml"; echo "---"
  done >"$tmp"
  cat "$root/infra/cluster/stages.yaml" >>"$tmp"
  mv -f "$tmp" "$bin/stages.yaml"
}

cmd_build() {
  command -v go >/dev/null || die "building the cluster needs Go 1.26 or newer on PATH"
  local stamp
  stamp="$(stamp_of_sources)"
  mkdir -p "$bin"
  if [[ -f "$bin/.stamp" && "$(cat "$bin/.stamp")" == "$stamp" && -x "$plane" && -x "$bin/kubectl" \
        && -x "$bin/kwok" ]]; then
    write_stages
    log "binaries already built in $bin"
    return 0
  fi
  local staging started=$SECONDS
  staging="$(mktemp -d "$bin/.build.XXXXXX")"
  trap 'rm -rf "$staging"' RETURN
  export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"
  # Without these the servers report v0.0.0-master, and a chart's kubeVersion constraint fails.
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local ldflags="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  log "building the control plane (Kubernetes $K8S_VERSION, etcd $ETCD_VERSION) from the Go module proxy"
  (cd "$root/infra/cluster" && timeout 2400 go build -trimpath -ldflags "$ldflags" -o "$staging/zoomsymbl-cluster" .)
  log "building kubectl $K8S_VERSION"
  (cd "$root/infra/cluster" && timeout 1200 go build -trimpath -ldflags "$ldflags" -o "$staging/kubectl" ./kubectl)
  log "building kwok $KWOK_VERSION"
  GOBIN="$staging" timeout 1200 go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  mv -f "$staging"/zoomsymbl-cluster "$staging"/kubectl "$staging"/kwok "$bin/"
  write_stages
  echo "$stamp" >"$bin/.stamp"
  log "built in $((SECONDS - started)) s: $(du -sh "$bin" | cut -f1) in $bin"
}

# ---------------------------------------------------------------------------------------------- up/down
alive() {  # alive PID NAME: the PID is still the process we started (guards against PID reuse)
  { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -q -- "$2"
}

cmd_down() {
  [[ -f "$run/pids" ]] || { log "nothing to stop"; return 0; }
  local pid name waited
  # Reverse start order: kwok and the controllers before the API server, etcd last.
  tac "$run/pids" | while read -r pid name; do
    if alive "$pid" "$name"; then
      kill -TERM "$pid" 2>/dev/null || true
      for ((waited = 0; waited < 100; waited++)); do alive "$pid" "$name" || break; sleep 0.1; done
      if alive "$pid" "$name"; then log "$name ($pid) ignored SIGTERM for 10 s: SIGKILL"; kill -KILL "$pid" || true; fi
      log "stopped $name ($pid)"
    fi
  done
  rm -f "$run/pids"
}

cmd_status() {
  [[ -f "$run/pids" ]] || { echo "down"; return 0; }
  local pid name
  while read -r pid name; do
    if alive "$pid" "$name"; then echo "up   $name pid=$pid log=$run/$name.log"; else echo "down $name (was pid $pid)"; fi
  done <"$run/pids"
}

start() {  # start NAME COMMAND...: in the background, output to run/NAME.log, PID recorded
  local name="$1"; shift
  "$@" >"$run/$name.log" 2>&1 </dev/null &
  echo "$! $name" >>"$run/pids"
}

port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }

wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local limit="$1" deadline=$((SECONDS + $1)) what="$2"; shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what not ready after ${limit} s; logs in $run"
    sleep 0.2
  done
}

make_certs() {
  local pki="$run/pki"
  mkdir -p "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=zoomsymbl-cluster-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$pki/apiserver.key" \
    -out "$pki/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n' \
    >"$pki/apiserver.ext"
  openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
    -extfile "$pki/apiserver.ext" -out "$pki/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  # One static token for every client: all of them run here, as this user.
  local token
  token="$(openssl rand -hex 24)"
  echo "$token,admin,admin,system:masters" >"$pki/tokens.csv"
  cat >"$kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: local
    cluster: {server: "https://127.0.0.1:$api_port", certificate-authority: "$pki/ca.crt"}
users:
  - name: admin
    user: {token: "$token"}
contexts:
  - name: local
    context: {cluster: local, user: admin}
current-context: local
EOF
  chmod 600 "$kubeconfig" "$pki/tokens.csv" "$pki"/*.key
}

cmd_up() {
  [[ -x "$plane" && -x "$bin/kubectl" && -x "$bin/kwok" ]] || die "binaries missing in $bin: run scripts/cluster.sh build"
  if [[ -f "$run/pids" ]]; then
    # Not `cmd_status | grep -q`: with pipefail, grep's early exit makes that pipeline fail (SIGPIPE), and
    # the PID file of a running cluster would be deleted here.
    local state
    state="$(cmd_status)"
    if grep -q '^up' <<<"$state"; then die "already running (scripts/cluster.sh down first)"; fi
    rm -f "$run/pids"
  fi
  local port
  for port in "$etcd_port" "$((etcd_port + 1))" "$api_port"; do
    port_free "$port" || die "port 127.0.0.1:$port is taken (another cluster or server?)"
  done
  rm -rf "$run" && mkdir -p "$run"
  # From here on any failure stops what was started.
  trap 'status=$?; if ((status != 0)); then log "start failed: stopping what was started"; cmd_down; fi' EXIT
  local started=$SECONDS kubectl=("$bin/kubectl" --kubeconfig "$kubeconfig")
  make_certs
  local pki="$run/pki"

  start etcd "$plane" etcd --name local --data-dir "$run/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
    --initial-cluster "local=http://127.0.0.1:$((etcd_port + 1))" \
    --listen-metrics-urls "" --log-level warn --quota-backend-bytes 1073741824
  wait_for 30 etcd curl -fsS "http://127.0.0.1:$etcd_port/health"

  start kube-apiserver "$plane" kube-apiserver --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --endpoint-reconciler-type none --authorization-mode RBAC --token-auth-file "$pki/tokens.csv" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" --client-ca-file "$pki/ca.crt" \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc --service-cluster-ip-range 10.96.0.0/16 \
    --cert-dir "$run/apiserver-certs" --enable-priority-and-fairness=false --v 1
  wait_for 90 kube-apiserver "${kubectl[@]}" get --raw /readyz

  start kube-controller-manager "$plane" kube-controller-manager --kubeconfig "$kubeconfig" \
    --secure-port 0 --leader-elect=false --service-account-private-key-file "$pki/sa.key" \
    --root-ca-file "$pki/ca.crt" --use-service-account-credentials=false --v 1
  start kube-scheduler "$plane" kube-scheduler --kubeconfig "$kubeconfig" --secure-port 0 --leader-elect=false --v 1
  # --node-lease-duration-seconds: kwok holds and renews the node's Lease in kube-node-lease, as a kubelet does.
  # Without it the node's only heartbeat was the node-heartbeat stage (every 10 min), so the node lifecycle
  # controller marked the node not ready 50 s after each one and set every pod's Ready condition to False.
  start kwok "$bin/kwok" --kubeconfig "$kubeconfig" --config "$bin/stages.yaml" --manage-all-nodes=true \
    --node-ip 127.0.0.1 --node-lease-duration-seconds 40

  "${kubectl[@]}" apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: kwok-node-0
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
    topology.kubernetes.io/zone: local-a
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110", ephemeral-storage: 1Ti}
  capacity: {cpu: "32", memory: 256Gi, pods: "110", ephemeral-storage: 1Ti}
EOF
  wait_for 60 "node kwok-node-0" "${kubectl[@]}" wait --for=condition=Ready node/kwok-node-0 --timeout=1s
  wait_for 60 "the default service account" "${kubectl[@]}" get serviceaccount default -n default
  trap - EXIT
  log "up in $((SECONDS - started)) s: KUBECONFIG=$kubeconfig ($("${kubectl[@]}" version -o json | grep -m1 gitVersion | tr -d ' ,'))"
}

case "${1:-}" in
  build) cmd_build ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  kubeconfig) echo "$kubeconfig" ;;
  *) echo "usage: scripts/cluster.sh build|up|down|status|kubeconfig" >&2; exit 2 ;;
esac
