#!/usr/bin/env bash
# Runs the end-to-end tests serially against a real kube-apiserver + etcd. Reuses a control
# plane started by `make cluster-up`; otherwise starts one and stops it afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
run=$root/e2e/.run
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/zen-watcher/cargo-target}

scripts/install-tools.sh >/dev/null
export PATH=$root/.tools/bin:$PATH
ZEN_CONTROLPLANE_BIN=$(scripts/build-controlplane.sh | tail -n 1)
export ZEN_CONTROLPLANE_BIN
ZEN_OTELCOL_BIN=$(scripts/build-otelcol.sh | tail -n 1)
export ZEN_OTELCOL_BIN

started=0
if [ -f "$run/controlplane.pid" ] && kill -0 "$(cat "$run/controlplane.pid")" 2>/dev/null; then
  echo "e2e: using the running control plane (pid $(cat "$run/controlplane.pid"))"
else
  scripts/cluster-up.sh "$run"
  started=1
fi
cleanup() { if [ "$started" = 1 ]; then scripts/cluster-down.sh "$run" || true; fi; }
trap cleanup EXIT

export KUBECONFIG=$run/kubeconfig
cargo build --locked -p zen-watcher --bin zen-watcher
export ZEN_WATCHER_BIN=$CARGO_TARGET_DIR/debug/zen-watcher
cargo test --locked -p zen-watcher-e2e -- --test-threads=1
