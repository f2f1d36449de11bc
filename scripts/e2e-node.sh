#!/usr/bin/env bash
# The node suite (e2e/tests/node.rs): the chart as it ships, `helm install`ed as real pods of
# the project's own image on a real kubelet (scripts/node-up.sh), with the kube-apiserver's
# audit webhook pointed at the chart's Service over TLS.
#
#   scripts/e2e-node.sh        # needs root; brings a node up and down unless one from
#                              # `make node-up` with the same settings already runs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=lib/node.sh
. scripts/lib/node.sh
run=$root/e2e/.node
inputs=$root/e2e/.node-inputs
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/zen-watcher/cargo-target}
scripts/install-tools.sh >/dev/null
export PATH=$root/.tools/bin:$PATH
started=$(date +%s)

# The audit webhook's inputs exist before the apiserver starts, so the Service's address, the
# serving certificate and the token are fixed here and handed to the chart by the test.
audit_ns=zen-node-audit
audit_ip=10.96.200.10
if [ ! -s "$inputs/token" ]; then
  rm -rf "$inputs" && mkdir -p "$inputs"
  openssl ecparam -name prime256v1 -genkey -noout -out "$inputs/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$inputs/ca.key" -subj /CN=zen-node-e2e-ca -days 3650 -out "$inputs/ca.crt" 2>/dev/null
  openssl ecparam -name prime256v1 -genkey -noout -out "$inputs/tls.key" 2>/dev/null
  openssl req -new -key "$inputs/tls.key" -subj "/CN=zen-watcher.$audit_ns.svc" -out "$inputs/tls.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s,DNS:zen-watcher.%s.svc\nextendedKeyUsage=serverAuth\n' "$audit_ip" "$audit_ns" >"$inputs/ext.cnf"
  openssl x509 -req -in "$inputs/tls.csr" -CA "$inputs/ca.crt" -CAkey "$inputs/ca.key" -CAcreateserial \
    -days 3650 -extfile "$inputs/ext.cnf" -out "$inputs/tls.crt" 2>/dev/null
  openssl rand -hex 24 >"$inputs/token"
  cat >"$inputs/policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    namespaces: ["$audit_ns"]
    resources: [{group: "", resources: ["secrets"]}]
  - level: None
EOF
  cat >"$inputs/webhook.yaml" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: zen, cluster: {server: "https://$audit_ip:8080/audit/webhook", certificate-authority: "$inputs/ca.crt"}}]
users: [{name: apiserver, user: {token: "$(cat "$inputs/token")"}}]
contexts: [{name: zen, context: {cluster: zen, user: apiserver}}]
current-context: zen
EOF
fi
export APISERVER_ARGS="--audit-policy-file=$inputs/policy.yaml --audit-webhook-config-file=$inputs/webhook.yaml --audit-webhook-batch-max-wait=1s"

up=0
if [ -f "$NODE_OWNER" ] && [ "$(cat "$NODE_OWNER")" = "$run" ] && [ "$(cat "$run/apiserver-args" 2>/dev/null)" = "$APISERVER_ARGS" ]; then
  echo "e2e-node: using the running node in $run"
else
  up=1
fi
# The teardown is checked too: node-down.sh fails when it leaves host state behind.
cleanup() {
  local rc=$?
  if [ "$up" = 1 ] && ! scripts/node-down.sh "$run"; then
    echo "e2e-node: node-down.sh left host state behind (see above)" >&2
    rc=1
  fi
  exit "$rc"
}
trap cleanup EXIT
# The image first: a release build takes minutes and needs no node.
image=$(scripts/node-image.sh node-e2e | tail -n 1)
if [ "$up" = 1 ]; then scripts/node-up.sh "$run" >/dev/null; fi
bin_dir=$(scripts/build-node.sh 2>/dev/null | tail -n 1)
"$bin_dir/ctr" --address "$NODE_CONTAINERD_SOCK" -n k8s.io images import "$image" >/dev/null 2>&1 \
  || { echo "e2e-node: importing $image into the node failed" >&2; exit 1; }

export ZEN_NODE_KUBECONFIG=$run/kubeconfig ZEN_NODE_INPUTS=$inputs ZEN_NODE_AUDIT_NAMESPACE=$audit_ns \
  ZEN_NODE_AUDIT_IP=$audit_ip ZEN_NODE_IMAGE_TAG=node-e2e ZEN_NODE_RUN=$run
cargo test --locked -p zen-watcher-e2e --features node --test node -- --test-threads=1
echo "e2e-node: passed in $(( $(date +%s) - started ))s"
