#!/usr/bin/env bash
# Stop the zen-controlplane started by scripts/cluster-up.sh, by the PID in
# RUN_DIR/controlplane.pid (never by process name): SIGTERM, wait up to 20 s,
# then SIGKILL. Data (RUN_DIR/data) is kept so KEEP_DATA=1 cluster-up.sh can
# bring the same cluster back.
#
#   scripts/cluster-down.sh [RUN_DIR]      # default RUN_DIR: <repo>/e2e/.run
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="${1:-$REPO_ROOT/e2e/.run}"
PID_FILE="$RUN_DIR/controlplane.pid"

log() { echo "cluster-down: $*" >&2; }

if [ ! -f "$PID_FILE" ]; then
  log "no pid file at $PID_FILE; nothing to stop"
  exit 0
fi
PID="$(cat "$PID_FILE" 2>/dev/null || true)"
case "$PID" in
  '' | *[!0-9]*) log "invalid pid file $PID_FILE; removing it"; rm -f "$PID_FILE"; exit 0 ;;
esac

if ! kill -0 "$PID" 2>/dev/null; then
  log "pid $PID is not running"
  rm -f "$PID_FILE"
  exit 0
fi

# Guard against a recycled PID: only signal our own binary.
if [ -r "/proc/$PID/cmdline" ] && ! tr '\0' ' ' <"/proc/$PID/cmdline" | grep -q 'zen-controlplane'; then
  log "pid $PID is not a zen-controlplane process (stale pid file?); not killing it"
  rm -f "$PID_FILE"
  exit 0
fi

log "stopping pid $PID (SIGTERM)"
kill -TERM "$PID" 2>/dev/null || true
for _ in $(seq 1 100); do # 100 x 0.2 s = 20 s
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.2
done
if kill -0 "$PID" 2>/dev/null; then
  log "pid $PID still alive after 20s; SIGKILL"
  kill -KILL "$PID" 2>/dev/null || true
  for _ in $(seq 1 25); do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.2
  done
fi
rm -f "$PID_FILE"
log "stopped"
