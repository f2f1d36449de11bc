#!/usr/bin/env bash
# Start the zen-controlplane test cluster (embedded etcd + kube-apiserver) in
# the background and wait until it is ready.
#
#   scripts/cluster-up.sh [RUN_DIR]        # default RUN_DIR: <repo>/e2e/.run
#
# Environment:
#   KEEP_DATA=1   keep RUN_DIR/data (etcd data + PKI) from an earlier run:
#                 "the same cluster" comes back (same CA, token and, if free, port)
#   PORT=N        apiserver port (default: the one in RUN_DIR/data/port, else a free one)
#   APISERVER_ARGS="..."  extra kube-apiserver flags (word-split), e.g.
#                 "--allow-privileged=true --audit-webhook-config-file=/x.yaml"
#   READY_TIMEOUT=120     seconds to wait for readiness
#   NODE_NAME=name        serve a real kubelet of that name (zen-controlplane --node; see
#                         scripts/node-up.sh)
#
# Writes RUN_DIR/controlplane.pid, RUN_DIR/controlplane.log, RUN_DIR/kubeconfig
# and prints `export KUBECONFIG=<abs>/kubeconfig` as the last stdout line.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="${1:-$REPO_ROOT/e2e/.run}"
mkdir -p "$RUN_DIR"
RUN_DIR="$(cd "$RUN_DIR" && pwd)"
DATA_DIR="$RUN_DIR/data"
PID_FILE="$RUN_DIR/controlplane.pid"
LOG_FILE="$RUN_DIR/controlplane.log"
KUBECONFIG_PATH="$RUN_DIR/kubeconfig"
READY_TIMEOUT="${READY_TIMEOUT:-120}"

die() { echo "cluster-up: error: $*" >&2; exit 1; }
log() { echo "cluster-up: $*" >&2; }

# readyz URL + token from a kubeconfig written by zen-controlplane.
kc_field() { sed -n "s/^[[:space:]]*$1: //p" "$KUBECONFIG_PATH" | head -1; }
ready() {
  [ -s "$KUBECONFIG_PATH" ] || return 1
  local server token ca
  server="$(kc_field server)"
  token="$(kc_field token)"
  ca="$DATA_DIR/pki/ca.crt"
  [ -n "$server" ] && [ -n "$token" ] && [ -f "$ca" ] || return 1
  [ "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$ca" \
        -H "Authorization: Bearer $token" "$server/readyz" 2>/dev/null)" = 200 ]
}

command -v curl >/dev/null 2>&1 || die "curl is required"

# Idempotent: a live cluster from this RUN_DIR is reused.
if [ -f "$PID_FILE" ]; then
  old_pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  if [ -n "$old_pid" ] && kill -0 "$old_pid" 2>/dev/null; then
    if ready; then
      log "already running (pid $old_pid) and ready"
      echo "export KUBECONFIG=$KUBECONFIG_PATH"
      exit 0
    fi
    die "pid $old_pid from $PID_FILE is alive but the cluster is not ready; run scripts/cluster-down.sh $RUN_DIR first"
  fi
  rm -f "$PID_FILE"
fi

BIN="$("$REPO_ROOT/scripts/build-controlplane.sh" | tail -n 1)"
[ -x "$BIN" ] || die "build-controlplane.sh did not produce a binary"

if [ "${KEEP_DATA:-0}" != 1 ]; then
  rm -rf "$DATA_DIR"
fi
rm -f "$KUBECONFIG_PATH"
mkdir -p "$DATA_DIR"

args=(--data-dir "$DATA_DIR" --kubeconfig "$KUBECONFIG_PATH")
if [ -n "${PORT:-}" ]; then
  args+=(--port "$PORT")
fi
if [ -n "${NODE_NAME:-}" ]; then
  args+=(--node "$NODE_NAME")
fi
# shellcheck disable=SC2206 # word splitting is the point
extra=(${APISERVER_ARGS:-})

START_NS=$(date +%s%N)
# setsid: its own session/process group, detached from this shell's terminal.
setsid "$BIN" "${args[@]}" -- "${extra[@]}" >"$LOG_FILE" 2>&1 </dev/null &
PID=$!
echo "$PID" >"$PID_FILE"
log "started zen-controlplane pid $PID (log: $LOG_FILE)"

deadline=$(( $(date +%s) + READY_TIMEOUT ))
until ready; do
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "---- last 40 lines of $LOG_FILE ----" >&2
    tail -n 40 "$LOG_FILE" >&2 || true
    rm -f "$PID_FILE"
    die "zen-controlplane exited before becoming ready"
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "---- last 40 lines of $LOG_FILE ----" >&2
    tail -n 40 "$LOG_FILE" >&2 || true
    die "not ready after ${READY_TIMEOUT}s (pid $PID still running; stop it with scripts/cluster-down.sh $RUN_DIR)"
  fi
  sleep 0.2
done
elapsed_ms=$(( ($(date +%s%N) - START_NS) / 1000000 ))
log "ready in $(( elapsed_ms / 1000 )).$(printf '%03d' $(( elapsed_ms % 1000 )))s at $(kc_field server)"
echo "export KUBECONFIG=$KUBECONFIG_PATH"
