#!/usr/bin/env bash
# `make demo` on a real node (scripts/node-up.sh): the project's image (scripts/node-image.sh)
# runs as 3 real pods of the chart in zen-system; the sample events go through the chart's
# Service. Called by scripts/demo.sh, which falls back to local processes when this exits 3
# (the node cannot run here: not root, or node-up.sh failed).
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=lib/node.sh
. scripts/lib/node.sh
RUN_DIR="$REPO_ROOT/demo/.run"
NODE_RUN="$REPO_ROOT/demo/.node"
DEMO_DIR="$REPO_ROOT/demo"
RELEASE=zen-watcher
NS=zen-system
DEMO_NS=demo
READY_TIMEOUT="${READY_TIMEOUT:-90}"
LEASE=zen-watcher-leader-election
export PATH="$REPO_ROOT/.tools/bin:$PATH"
export HELM_CACHE_HOME="$RUN_DIR/helm-state/cache" HELM_CONFIG_HOME="$RUN_DIR/helm-state/config" \
  HELM_DATA_HOME="$RUN_DIR/helm-state/data"

step() { printf '\n==> %s\n' "$*" >&2; }
log() { echo "demo: $*" >&2; }
fail() { kubectl -n "$NS" logs -l app.kubernetes.io/instance=$RELEASE --tail=20 >&2 2>/dev/null || true; echo "demo: error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || { log "a real node needs root"; exit 3; }
mkdir -p "$RUN_DIR"
step "1/5 a real node (kubelet, containerd, kube-proxy) and the image"
if ! scripts/node-up.sh "$NODE_RUN" >"$RUN_DIR/node-up.out" 2>"$RUN_DIR/node-up.log"; then
  tail -n 5 "$RUN_DIR/node-up.log" >&2
  scripts/node-down.sh "$NODE_RUN" >/dev/null 2>&1 || true
  log "the real node could not start (log: demo/.run/node-up.log)"
  exit 3
fi
export KUBECONFIG="$NODE_RUN/kubeconfig"
log "node $NODE_NAME Ready (kubeconfig $KUBECONFIG)"
NODE_IMPORT=1 scripts/node-image.sh dev >/dev/null 2>"$RUN_DIR/node-image.log" \
  || fail "building or importing the image failed (log: demo/.run/node-image.log)"
log "image ghcr.io/kube-zen/zen-watcher:dev built from the Dockerfile's recipe and imported"

step "2/5 helm upgrade --install $RELEASE charts/zen-watcher -n $NS --wait"
helm upgrade --install "$RELEASE" charts/zen-watcher -n "$NS" --create-namespace --set image.tag=dev \
  --wait --timeout 180s >/dev/null || fail "helm install did not get 3 Ready pods"
kubectl -n "$NS" get pods -o wide >&2
kubectl apply -f e2e/crds/ >/dev/null
kubectl wait --for condition=Established --timeout=60s \
  $(for f in e2e/crds/*.yaml; do echo "crd/$(basename "$f" .yaml)"; done) >/dev/null
kubectl create namespace "$DEMO_NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl delete ingesters.zen.kube-zen.io,policyreports.wgpolicyk8s.io,observations.zen.kube-zen.io \
  --all -n "$DEMO_NS" --ignore-not-found --wait=true >/dev/null

step "3/5 the Service"
ADDR="$(kubectl -n "$NS" get svc "$RELEASE" -o jsonpath='{.spec.clusterIP}'):8080"
WEBHOOK_TOKEN="$(kubectl -n "$NS" get secret "$RELEASE-webhook-token" -o jsonpath='{.data.token}' | base64 -d)"
log "webhooks at http://$ADDR (ClusterIP, through kube-proxy to any of the 3 pods)"

step "4/5 sending sample events"
post() { # TARGET PATH FILE: TARGET is ignored, the Service picks a replica
  curl -s -o "$RUN_DIR/last-response" -w '%{http_code}' --max-time 10 -X POST \
    -H "Authorization: Bearer $WEBHOOK_TOKEN" -H 'Content-Type: application/json' \
    --data-binary "@$3" "http://$ADDR$2" || true
}
post_ok() {
  local code
  code="$(post "$@")"
  case "$code" in
    2??) log "POST $2 ($(basename "$3")) -> Service: $code" ;;
    *) fail "POST $2 ($(basename "$3")) answered $code: $(cat "$RUN_DIR/last-response" 2>/dev/null)" ;;
  esac
}
# shellcheck source=lib/demo-samples.sh
. scripts/lib/demo-samples.sh
send_samples
wait_for_samples

echo
echo "\$ kubectl get obs -A"
kubectl get obs -A
echo
echo "Leader (Lease $NS/$LEASE): $(kubectl get lease "$LEASE" -n "$NS" -o jsonpath='{.spec.holderIdentity}')"
cat <<EOF

zen-watcher is running as 3 real pods on a real kubelet. Look around:
  export KUBECONFIG=$KUBECONFIG PATH=$REPO_ROOT/.tools/bin:\$PATH
  kubectl get pods -n $NS -o wide; kubectl logs -n $NS deploy/$RELEASE
  kubectl get obs -A
  kubectl delete pod -n $NS \$(kubectl get lease $LEASE -n $NS -o jsonpath='{.spec.holderIdentity}')   # another replica leads
  curl -s http://$ADDR/falco/webhook -H "Authorization: Bearer $WEBHOOK_TOKEN" -H 'Content-Type: application/json' --data-binary @demo/falco-critical.json
Stop everything: make demo-down
EOF
