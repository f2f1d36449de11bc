#!/usr/bin/env bash
# A real single-node Kubernetes on this machine, without Docker or a registry:
#   zen-controlplane (etcd + kube-apiserver, ServiceAccount admission on, Node authorizer),
#   kube-scheduler, kube-controller-manager, containerd + runc, kubelet, kube-proxy (iptables)
#   and a bridge CNI (zen0, 10.244.0.0/24). Images are OCI tarballs imported with `ctr`
#   (scripts/node-image.sh); pods use imagePullPolicy IfNotPresent/Never.
#
#   scripts/node-up.sh [RUN_DIR]     # default RUN_DIR: <repo>/e2e/.node; needs root
#
# Prints `export KUBECONFIG=RUN_DIR/kubeconfig` as the last stdout line. One node per machine
# (the kubepods cgroups, runc's state and the iptables chains are host-wide): a second call
# with the same RUN_DIR reuses a healthy node, any other call refuses. Stop with
# scripts/node-down.sh, which restores the host. Why each setting is what it is:
# docs/architecture.md, "The real node".
#
# Environment: APISERVER_ARGS="..." extra kube-apiserver flags (e.g. an audit webhook);
# READY_TIMEOUT=120.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="${1:-$REPO_ROOT/e2e/.node}"
mkdir -p "$RUN"
RUN="$(cd "$RUN" && pwd)"
# shellcheck source=lib/node.sh
. "$REPO_ROOT/scripts/lib/node.sh"
READY_TIMEOUT="${READY_TIMEOUT:-120}"

die() { echo "node-up: error: $*" >&2; exit 1; }
log() { echo "node-up: $*" >&2; }

[ "$(id -u)" = 0 ] || die "root is needed (containerd, kubelet, iptables, cgroups)"
[ -d /sys/fs/cgroup ] || die "no /sys/fs/cgroup"

# --- one node per machine ---
if [ -f "$NODE_OWNER" ]; then
  owner="$(cat "$NODE_OWNER")"
  if [ "$owner" = "$RUN" ] && node_alive "$RUN"; then
    [ "$(cat "$RUN/apiserver-args" 2>/dev/null)" = "${APISERVER_ARGS:-}" ] \
      || die "the node in $RUN runs with other kube-apiserver flags ($(cat "$RUN/apiserver-args" 2>/dev/null)): run scripts/node-down.sh $RUN first"
    if kubectl --kubeconfig "$RUN/kubeconfig" get node "$NODE_NAME" \
         -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -qx True; then
      log "already up in $RUN and Ready; reusing it"
      echo "export KUBECONFIG=$RUN/kubeconfig"
      exit 0
    fi
    die "a node from $RUN is running but not Ready: run scripts/node-down.sh $RUN first"
  fi
  if node_alive "$owner"; then
    die "a node from $owner is already running on this machine (one per machine): stop it with scripts/node-down.sh $owner"
  fi
  die "$NODE_OWNER names $owner but its processes are gone: run scripts/node-down.sh $owner to clean the host first"
fi

"$REPO_ROOT/scripts/install-node-packages.sh"
"$REPO_ROOT/scripts/install-tools.sh" >/dev/null
export PATH="$REPO_ROOT/.tools/bin:$PATH"
BIN="$("$REPO_ROOT/scripts/build-node.sh" | tail -n 1)"
[ -x "$BIN/kubelet" ] || die "build-node.sh did not produce the node binaries"
for cmd in runc socat iptables conntrack; do command -v "$cmd" >/dev/null || die "$cmd not found"; done
[ -x /usr/lib/cni/bridge ] || die "/usr/lib/cni/bridge not found (Debian containernetworking-plugins)"

# A fresh start: nothing from an earlier run survives except the cached builds. Never remove a
# directory with something still mounted below it.
if awk -v r="$RUN/" 'index($2, r) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
  die "mounts are left under $RUN from an earlier node: run scripts/node-down.sh $RUN first"
fi
rm -rf "$RUN"
mkdir -p "$(dirname "$NODE_CONTAINERD_SOCK")" "$RUN"/{logs,pids,cni/net.d,cni/ipam,containerd,kubelet/root,kubelet/pki,podlogs,images}
echo "$RUN" >"$NODE_OWNER"
printf '%s' "${APISERVER_ARGS:-}" >"$RUN/apiserver-args"
START_NS=$(date +%s%N)
LOGS="$RUN/logs"
trap 'echo "node-up: failed; logs in $LOGS (stop with scripts/node-down.sh $RUN)" >&2' ERR

# Host state this script and the kubelet change, restored by node-down.sh.
for path in "${NODE_HOST_PATHS[@]}"; do [ -e "$path" ] || echo "$path"; done >"$RUN/host-paths-created"
sysctl -e "${NODE_SYSCTLS[@]}" 2>/dev/null | sed 's/ = /=/' >"$RUN/sysctl-before.txt" || true

start() { # name command...
  local name=$1; shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/pids/$name"
}
all_running() {
  local name
  for name in "$@"; do
    kill -0 "$(cat "$RUN/pids/$name")" 2>/dev/null || die "$name exited: $(tail -n 5 "$LOGS/$name.log")"
  done
}
wait_for() { # what seconds command...
  local what=$1 secs=$2; shift 2
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    # shellcheck disable=SC2046 # one word per started process
    all_running $(ls "$RUN/pids")
    [ "$(date +%s)" -lt "$deadline" ] || die "$what not ready after ${secs}s (logs in $LOGS)"
    sleep 0.2
  done
}

# --- network: the node's address is the bridge's (the kubelet refuses a loopback node IP) ---
ip link add "$NODE_BRIDGE" type bridge 2>/dev/null || true
ip addr add "$NODE_IP/24" dev "$NODE_BRIDGE" 2>/dev/null || true
ip link set "$NODE_BRIDGE" up
sysctl -q -w net.ipv4.ip_forward=1
cat >"$RUN/cni/net.d/10-zen-bridge.conflist" <<EOF
{"cniVersion":"1.0.0","name":"zen-node","plugins":[{"type":"bridge","bridge":"$NODE_BRIDGE","isGateway":true,"isDefaultGateway":false,"ipMasq":false,"hairpinMode":true,"ipam":{"type":"host-local","dataDir":"$RUN/cni/ipam","ranges":[[{"subnet":"$NODE_POD_CIDR","rangeStart":"10.244.0.10","gateway":"$NODE_IP"}]],"routes":[{"dst":"$NODE_SERVICE_CIDR","gw":"$NODE_IP"}]}}]}
EOF

# --- control plane ---
NODE_NAME="$NODE_NAME" READY_TIMEOUT="$READY_TIMEOUT" APISERVER_ARGS="${APISERVER_ARGS:-}" \
  "$REPO_ROOT/scripts/cluster-up.sh" "$RUN/cp" >/dev/null
cp "$RUN/cp/kubeconfig" "$RUN/kubeconfig"
export KUBECONFIG="$RUN/kubeconfig"
PKI="$RUN/cp/data/pki"
API_PORT="$(cat "$RUN/cp/data/port")"
SERVER="https://127.0.0.1:$API_PORT"

# Pods reach the apiserver as in a cluster: 10.96.0.1:443 -> (kube-proxy) the Endpoints of
# default/kubernetes -> socat on the node IP -> the apiserver on 127.0.0.1 (the endpoint
# reconciler is off, so the Endpoints are published here).
start socat socat "TCP-LISTEN:$NODE_API_PROXY_PORT,bind=$NODE_IP,reuseaddr,fork" "TCP:127.0.0.1:$API_PORT"
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Endpoints
metadata: {name: kubernetes, namespace: default}
subsets: [{addresses: [{ip: "$NODE_IP"}], ports: [{name: https, port: $NODE_API_PROXY_PORT, protocol: TCP}]}]
EOF

start kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$KUBECONFIG" --authentication-kubeconfig="$KUBECONFIG" \
  --authorization-kubeconfig="$KUBECONFIG" --bind-address=127.0.0.1 --secure-port=0 --leader-elect=false
start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$KUBECONFIG" \
  --authentication-kubeconfig="$KUBECONFIG" --authorization-kubeconfig="$KUBECONFIG" --bind-address=127.0.0.1 \
  --secure-port=0 --leader-elect=false --use-service-account-credentials=false \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" --controllers='*'

# --- containerd (2.x, config version 3) ---
cat >"$RUN/containerd/config.toml" <<EOF
version = 3
root = "$RUN/containerd/root"
state = "$RUN/containerd/state"
[grpc]
  address = "$NODE_CONTAINERD_SOCK"
[ttrpc]
  address = "$NODE_CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$RUN/containerd/opt"
[plugins."io.containerd.nri.v1.nri"]
  disable = true
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "$NODE_PAUSE_IMAGE"
[plugins."io.containerd.cri.v1.runtime"]
  # No CAP_SYS_RESOURCE here: runc cannot lower oom_score_adj below the shim's (-998 for sandboxes).
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$(command -v runc)"
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$RUN/cni/net.d"
[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "$NODE_STREAM_PORT"
EOF
# The runc v2 shim is found through PATH: ours comes first.
PATH="$BIN:$PATH" start containerd "$BIN/containerd" --config "$RUN/containerd/config.toml"
wait_for containerd 30 "$BIN/ctr" --address "$NODE_CONTAINERD_SOCK" version

# The sandbox ("pause") image: a static C program in an OCI tarball.
gcc -static -O2 -o "$RUN/images/pause" "$REPO_ROOT/e2e/node/pause.c"
python3 "$REPO_ROOT/scripts/lib/oci_image.py" simple --ref "$NODE_PAUSE_IMAGE" \
  --file "$RUN/images/pause=/pause" --entrypoint /pause --user 65535:65535 --out "$RUN/images/pause.tar" >/dev/null
"$BIN/ctr" --address "$NODE_CONTAINERD_SOCK" -n k8s.io images import "$RUN/images/pause.tar" >"$LOGS/ctr-import.log" 2>&1

# --- kubelet ---
cat >"$RUN/kubelet/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: zen, cluster: {server: "$SERVER", certificate-authority: "$PKI/ca.crt"}}]
users: [{name: kubelet, user: {token: "$(cat "$PKI/node.token")"}}]
contexts: [{name: zen, context: {cluster: zen, user: kubelet}}]
current-context: zen
EOF
cat >"$RUN/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine has cgroup v1 only; kubelet 1.36 refuses it unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$NODE_CONTAINERD_SOCK
imageServiceEndpoint: unix://$NODE_CONTAINERD_SOCK
address: $NODE_IP
port: $NODE_KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $NODE_KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
podLogsDir: $RUN/podlogs
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
rotateCertificates: false
serializeImagePulls: false
maxPods: 50
nodeStatusUpdateFrequency: 10s
syncFrequency: 10s
# The images are imported by hand, never pulled: never garbage-collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}
EOF
start kubelet "$BIN/kubelet" --config="$RUN/kubelet/config.yaml" --kubeconfig="$RUN/kubelet/kubeconfig" \
  --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --root-dir="$RUN/kubelet/root" --cert-dir="$RUN/kubelet/pki"

start kube-proxy "$BIN/kube-proxy" --kubeconfig="$KUBECONFIG" --hostname-override="$NODE_NAME" \
  --proxy-mode=iptables --cluster-cidr="$NODE_POD_CIDR" --metrics-bind-address=127.0.0.1:$NODE_PROXY_METRICS_PORT \
  --healthz-bind-address=127.0.0.1:$NODE_PROXY_HEALTHZ_PORT --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 \
  --conntrack-tcp-timeout-close-wait=0 --iptables-localhost-nodeports=false

node_ready() {
  kubectl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True
}
default_sa() { kubectl -n default get serviceaccount default; }
kube_proxy_synced() { iptables -t nat -S KUBE-SERVICES | grep -q 'default/kubernetes:https'; }
wait_for "node $NODE_NAME" "$READY_TIMEOUT" node_ready
wait_for "the default ServiceAccount" 60 default_sa
wait_for "kube-proxy's rules for default/kubernetes" 60 kube_proxy_synced
trap - ERR
elapsed_ms=$(( ($(date +%s%N) - START_NS) / 1000000 ))
log "node $NODE_NAME Ready in $(( elapsed_ms / 1000 )).$(printf '%03d' $(( elapsed_ms % 1000 )))s (logs: $LOGS)"
echo "export KUBECONFIG=$RUN/kubeconfig"
