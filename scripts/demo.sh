#!/usr/bin/env bash
# `make demo`: zen-watcher end to end on this machine, no container engine needed.
#
# On a machine that can run the real node (root; scripts/node-up.sh), the chart runs as 3 real
# pods of the project's image (scripts/demo-node.sh). Elsewhere, or with DEMO_NODE=0, or when the
# node does not start (said so), the steps below run the chart's pods as local processes:
#
#  1. installs kubectl + helm (.tools/bin), builds the watcher (cargo), starts the local
#     kube-apiserver + etcd in demo/.run (a running one is reused);
#  2. installs the chart (helm upgrade --install, release zen-watcher in zen-system), the report
#     CRDs (e2e/crds) and the namespace `demo`;
#  3. runs the chart's 3 "pods" as local processes zen-watcher-0..2 with the Deployment's env and
#     the chart ServiceAccount's token (no kubelet here), logs in demo/.run/zen-watcher-N.log;
#  4. sends sample events (demo/*.json, *.yaml): Falco alerts, a Kubernetes audit EventList, a
#     Kyverno PolicyReport and a webhook Ingester with a payload;
#  5. waits for the Observations and shows them.
#
# Running it again restarts the watchers and re-sends the samples onto a clean `demo` namespace.
# Stop everything with `make demo-down` (scripts/demo-down.sh).
#
# Environment: DEMO_WEBHOOK_PORT (default 18080) and DEMO_METRICS_PORT (default 19090): replica N
# listens on these + N. READY_TIMEOUT (default 90): seconds to wait for each step.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
RUN_DIR="$REPO_ROOT/demo/.run"
DEMO_DIR="$REPO_ROOT/demo"
RELEASE=zen-watcher
NS=zen-system
DEMO_NS=demo
REPLICAS=3
WEBHOOK_BASE="${DEMO_WEBHOOK_PORT:-18080}"
METRICS_BASE="${DEMO_METRICS_PORT:-19090}"
READY_TIMEOUT="${READY_TIMEOUT:-90}"
LEASE=zen-watcher-leader-election

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/zen-watcher/cargo-target}"
export PATH="$REPO_ROOT/.tools/bin:$PATH"
BIN="$CARGO_TARGET_DIR/debug/zen-watcher"
ADMIN_KUBECONFIG="$RUN_DIR/kubeconfig"
SA_KUBECONFIG="$RUN_DIR/zen-watcher-sa.kubeconfig"
export HELM_CACHE_HOME="$RUN_DIR/helm-state/cache"
export HELM_CONFIG_HOME="$RUN_DIR/helm-state/config"
export HELM_DATA_HOME="$RUN_DIR/helm-state/data"

step() { printf '\n==> %s\n' "$*" >&2; }
log() { echo "demo: $*" >&2; }
die() { echo "demo: error: $*" >&2; exit 1; }

for tool in curl python3 cargo go; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is required (see README: Requirements)"
done

webhook_port() { echo $(( WEBHOOK_BASE + $1 )); }
metrics_port() { echo $(( METRICS_BASE + $1 )); }
if [ $(( WEBHOOK_BASE - METRICS_BASE )) -lt "$REPLICAS" ] && [ $(( METRICS_BASE - WEBHOOK_BASE )) -lt "$REPLICAS" ]; then
  die "DEMO_WEBHOOK_PORT=$WEBHOOK_BASE and DEMO_METRICS_PORT=$METRICS_BASE overlap (replica N uses base + N)"
fi

# Prints the last lines of every watcher log (after a failure).
watcher_logs() {
  local i
  for i in $(seq 0 $(( REPLICAS - 1 ))); do
    if [ -f "$RUN_DIR/zen-watcher-$i.log" ]; then
      echo "---- last 30 lines of $RUN_DIR/zen-watcher-$i.log ----" >&2
      tail -n 30 "$RUN_DIR/zen-watcher-$i.log" >&2 || true
    fi
  done
}
fail() { watcher_logs; die "$*"; }

# ---------------------------------------------------------------- 1. tools, build, cluster
"$REPO_ROOT/scripts/install-tools.sh" >/dev/null
if [ "${DEMO_NODE:-1}" != 0 ]; then
  rc=0
  "$REPO_ROOT/scripts/demo-node.sh" || rc=$?
  [ "$rc" = 3 ] || exit "$rc"
  log "falling back to the chart's pods as local processes (no real node here)"
fi
step "1/5 tools, build, local control plane"
log "kubectl and helm in .tools/bin"
log "building zen-watcher (cargo build -p zen-watcher, target dir $CARGO_TARGET_DIR)"
cargo build --locked -p zen-watcher --bin zen-watcher
[ -x "$BIN" ] || die "cargo did not produce $BIN"

mkdir -p "$RUN_DIR"
# Watchers from an earlier run go first: they would hold the ports and the Lease.
"$REPO_ROOT/scripts/demo-down.sh" --watchers-only 2>&1 | sed 's/^/  /' >&2
"$REPO_ROOT/scripts/cluster-up.sh" "$RUN_DIR" >/dev/null
export KUBECONFIG="$ADMIN_KUBECONFIG"
log "control plane: $(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}') (admin kubeconfig $ADMIN_KUBECONFIG)"

for i in $(seq 0 $(( REPLICAS - 1 ))); do
  for port in "$(webhook_port "$i")" "$(metrics_port "$i")"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      die "port $port is already in use (set DEMO_WEBHOOK_PORT / DEMO_METRICS_PORT to other bases)"
    fi
  done
done

# ---------------------------------------------------------------- 2. chart, CRDs, namespace
step "2/5 helm upgrade --install $RELEASE charts/zen-watcher -n $NS"
# No --wait: without a kubelet the Deployment's Pods never run; its env is what we use below.
helm upgrade --install "$RELEASE" charts/zen-watcher -n "$NS" --create-namespace \
  --set leaderElection.leaseDuration=6s \
  --set leaderElection.renewDeadline=4s \
  --set leaderElection.retryPeriod=1s \
  --set shutdownDrainDelay=1s >/dev/null
log "release $RELEASE installed ($(helm list -n "$NS" -f "^$RELEASE\$" -o json | python3 -c 'import json,sys; r=json.load(sys.stdin)[0]; print("revision", r["revision"], r["status"])'))"
kubectl apply -f e2e/crds/ >/dev/null
kubectl wait --for condition=Established --timeout=60s \
  crd/observations.zen.kube-zen.io crd/ingesters.zen.kube-zen.io \
  $(for f in e2e/crds/*.yaml; do echo "crd/$(basename "$f" .yaml)"; done) >/dev/null
log "CRDs established: Observation, Ingester and the report CRDs from e2e/crds"

# The namespace `demo` with its default ServiceAccount (no controller-manager creates it here).
kubectl create namespace "$DEMO_NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl create serviceaccount default -n "$DEMO_NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
# A second run starts from a clean slate: no samples or Observations from the last one.
kubectl delete ingesters.zen.kube-zen.io,policyreports.wgpolicyk8s.io,observations.zen.kube-zen.io \
  --all -n "$DEMO_NS" --ignore-not-found --wait=true >/dev/null
log "namespace $DEMO_NS ready (empty)"

# ---------------------------------------------------------------- 3. three watcher processes
step "3/5 starting $REPLICAS watchers as the chart's ServiceAccount"
TOKEN_SA="$(kubectl create token zen-watcher -n "$NS" --duration=24h)"
SERVER="$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')"
CA_DATA="$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')"
umask 077
cat >"$SA_KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: zen-controlplane
  cluster:
    server: $SERVER
    certificate-authority-data: $CA_DATA
users:
- name: zen-watcher
  user:
    token: $TOKEN_SA
contexts:
- name: zen-watcher
  context:
    cluster: zen-controlplane
    user: zen-watcher
    namespace: $NS
current-context: zen-watcher
EOF
umask 022
log "ServiceAccount kubeconfig: $SA_KUBECONFIG (system:serviceaccount:$NS:zen-watcher, 24h token)"

# The rendered Deployment's container env, with the downward API (metadata.namespace/name) and
# secretKeyRefs resolved, as NUL-separated NAME=VALUE for pod $1 with ports $2/$3.
kubectl get deploy "$RELEASE" -n "$NS" -o json >"$RUN_DIR/deployment.json"
render_env() {
  python3 - "$RUN_DIR/deployment.json" "$NS" "$1" "$2" "$3" <<'PY'
import base64, json, subprocess, sys
deploy_file, namespace, pod, webhook_port, metrics_port = sys.argv[1:]
deploy = json.load(open(deploy_file))
container = deploy["spec"]["template"]["spec"]["containers"][0]
secrets = {}
out = {}
for var in container.get("env", []):
    name = var["name"]
    if "value" in var:
        out[name] = var["value"]
    elif "valueFrom" in var:
        src = var["valueFrom"]
        if "fieldRef" in src:
            path = src["fieldRef"]["fieldPath"]
            if path == "metadata.namespace":
                out[name] = namespace
            elif path == "metadata.name":
                out[name] = pod
            else:
                sys.exit(f"unsupported fieldRef {path} in {name}")
        elif "secretKeyRef" in src:
            ref = src["secretKeyRef"]
            if ref["name"] not in secrets:
                secrets[ref["name"]] = json.loads(subprocess.check_output(
                    ["kubectl", "get", "secret", ref["name"], "-n", namespace, "-o", "json"]))
            data = secrets[ref["name"]].get("data", {})
            if ref["key"] not in data:
                sys.exit(f"Secret {ref['name']} has no key {ref['key']} (for {name})")
            out[name] = base64.b64decode(data[ref["key"]]).decode()
        else:
            sys.exit(f"unsupported valueFrom in {name}")
    else:
        out[name] = ""
# Local processes share one host: distinct ports per replica.
out["WATCHER_PORT"] = webhook_port
out["METRICS_PORT"] = metrics_port
out["HOSTNAME"] = pod
sys.stdout.write("".join(f"{k}={v}\0" for k, v in out.items()))
PY
}

WEBHOOK_TOKEN=""
for i in $(seq 0 $(( REPLICAS - 1 ))); do
  name="zen-watcher-$i"
  mapfile -d '' pod_env < <(render_env "$name" "$(webhook_port "$i")" "$(metrics_port "$i")")
  [ "${#pod_env[@]}" -gt 0 ] || die "could not render the Deployment env for $name"
  for kv in "${pod_env[@]}"; do
    [ "${kv%%=*}" = WEBHOOK_AUTH_TOKEN ] && WEBHOOK_TOKEN="${kv#*=}"
  done
  # A clean environment like a container's (no RUST_LOG/OTEL_* leaking in), in its own session
  # so that Ctrl-C on this script leaves it running.
  setsid env -i PATH="/usr/bin:/bin" KUBECONFIG="$SA_KUBECONFIG" "${pod_env[@]}" "$BIN" \
    >"$RUN_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/$name.pid"
  log "$name: pid $!, webhook 127.0.0.1:$(webhook_port "$i"), metrics 127.0.0.1:$(metrics_port "$i"), log demo/.run/$name.log"
done
[ -n "$WEBHOOK_TOKEN" ] || die "the Deployment env has no WEBHOOK_AUTH_TOKEN"

deadline=$(( $(date +%s) + READY_TIMEOUT ))
for i in $(seq 0 $(( REPLICAS - 1 ))); do
  pid="$(cat "$RUN_DIR/zen-watcher-$i.pid")"
  until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$(metrics_port "$i")/readyz" || true)" = 200 ]; do
    kill -0 "$pid" 2>/dev/null || fail "zen-watcher-$i (pid $pid) exited before becoming ready"
    [ "$(date +%s)" -lt "$deadline" ] || fail "zen-watcher-$i not ready after ${READY_TIMEOUT}s"
    sleep 0.3
  done
done
log "all $REPLICAS replicas ready (/readyz 200)"

# ---------------------------------------------------------------- 4. sample events
step "4/5 sending sample events"
# post REPLICA PATH FILE: POST a JSON file with the webhook token; prints the HTTP status.
post() {
  curl -s -o "$RUN_DIR/last-response" -w '%{http_code}' --max-time 10 -X POST \
    -H "Authorization: Bearer $WEBHOOK_TOKEN" -H 'Content-Type: application/json' \
    --data-binary "@$3" "http://127.0.0.1:$(webhook_port "$1")$2" || true
}
post_ok() { # REPLICA PATH FILE
  local code
  code="$(post "$@")"
  case "$code" in
    2??) log "POST $2 ($(basename "$3")) -> zen-watcher-$1: $code" ;;
    *) fail "POST $2 ($(basename "$3")) to zen-watcher-$1 answered $code: $(cat "$RUN_DIR/last-response" 2>/dev/null)" ;;
  esac
}
# shellcheck source=lib/demo-samples.sh
. "$REPO_ROOT/scripts/lib/demo-samples.sh"
send_samples
wait_for_samples

echo
echo "\$ kubectl get obs -A"
kubectl get obs -A
holder="$(kubectl get lease "$LEASE" -n "$NS" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true)"
echo
echo "Leader (Lease $NS/$LEASE): ${holder:-<none yet>}"

cat <<EOF

zen-watcher is running: 3 replicas as local processes (logs: demo/.run/zen-watcher-{0,1,2}.log).
Look around:
  export KUBECONFIG=$ADMIN_KUBECONFIG PATH=$REPO_ROOT/.tools/bin:\$PATH
  kubectl get obs -A
  kubectl describe obs -n $DEMO_NS \$(kubectl get obs -n $DEMO_NS -l source=falco -o name | head -1 | cut -d/ -f2)
  kubectl get lease $LEASE -n $NS -o jsonpath='{.spec.holderIdentity}'
  curl -s http://127.0.0.1:$(metrics_port 0)/metrics | grep ^zen_watcher_     # replicas 1, 2: ports $(metrics_port 1), $(metrics_port 2)
  TOKEN=\$(kubectl get secret -n $NS zen-watcher-webhook-token -o jsonpath='{.data.token}' | base64 -d)
  curl -s -X POST http://127.0.0.1:$(webhook_port 0)/falco/webhook -H "Authorization: Bearer \$TOKEN" \\
    -H 'Content-Type: application/json' --data-binary @demo/falco-critical.json
  kubectl delete policyreport -n $DEMO_NS demo-payments-api    # the kyverno finding gets RESOLVED
  kill \$(cat demo/.run/${holder:-zen-watcher-0}.pid)   # stop the leader: another replica takes the Lease
Stop everything: make demo-down
EOF
