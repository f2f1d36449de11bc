#!/usr/bin/env bash
# Stop the `make demo` environment: the zen-watcher processes started by scripts/demo.sh (by
# the PIDs in demo/.run/zen-watcher-N.pid, never by process name: SIGTERM, wait up to 15 s,
# then SIGKILL), then the real node of scripts/demo-node.sh when it runs (scripts/node-down.sh),
# then the local control plane (scripts/cluster-down.sh demo/.run).
#
#   scripts/demo-down.sh                  # everything
#   scripts/demo-down.sh --watchers-only  # only the watchers (demo.sh uses this to restart them)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="$REPO_ROOT/demo/.run"
STOP_TIMEOUT=15

log() { echo "demo-down: $*" >&2; }

watchers_only=0
case "${1:-}" in
  '') ;;
  --watchers-only) watchers_only=1 ;;
  *) echo "usage: $0 [--watchers-only]" >&2; exit 2 ;;
esac

# Is $1 (a live PID) one of our zen-watcher processes? Guards against a recycled PID.
is_watcher() {
  [ -r "/proc/$1/cmdline" ] || return 0 # no procfs: trust the pid file
  tr '\0' ' ' <"/proc/$1/cmdline" | grep -q 'zen-watcher'
}

stop_watcher() { # $1 = pid file
  local pid_file="$1" name pid
  name="$(basename "$pid_file" .pid)"
  pid="$(cat "$pid_file" 2>/dev/null || true)"
  case "$pid" in
    '' | *[!0-9]*) log "$name: invalid pid file; removing it"; rm -f "$pid_file"; return 0 ;;
  esac
  if ! kill -0 "$pid" 2>/dev/null; then
    log "$name: pid $pid is not running"
    rm -f "$pid_file"
    return 0
  fi
  if ! is_watcher "$pid"; then
    log "$name: pid $pid is not a zen-watcher process (stale pid file?); not killing it"
    rm -f "$pid_file"
    return 0
  fi
  log "$name: stopping pid $pid (SIGTERM)"
  kill -TERM "$pid" 2>/dev/null || true
  echo "$pid" >>"$RUN_DIR/.stopping"
}

wait_stopped() {
  [ -f "$RUN_DIR/.stopping" ] || return 0
  local pids pid deadline
  mapfile -t pids <"$RUN_DIR/.stopping"
  deadline=$(( $(date +%s) + STOP_TIMEOUT ))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid still alive after ${STOP_TIMEOUT}s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 25); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
      done
    fi
  done
  rm -f "$RUN_DIR/.stopping"
}

if [ -d "$RUN_DIR" ]; then
  rm -f "$RUN_DIR/.stopping"
  shopt -s nullglob
  pid_files=("$RUN_DIR"/zen-watcher-*.pid)
  shopt -u nullglob
  if [ "${#pid_files[@]}" -eq 0 ]; then
    log "no watcher pid files in $RUN_DIR"
  fi
  # SIGTERM all replicas first, then wait for them together (they drain in parallel).
  for f in "${pid_files[@]}"; do stop_watcher "$f"; done
  wait_stopped
  rm -f "${pid_files[@]}"
  [ "${#pid_files[@]}" -eq 0 ] || log "watchers stopped"
else
  log "no $RUN_DIR; nothing to stop"
fi

if [ "$watchers_only" = 0 ]; then
  # The real node of scripts/demo-node.sh, when it runs.
  if [ -f /run/zen-watcher-node.owner ] && [ "$(cat /run/zen-watcher-node.owner)" = "$REPO_ROOT/demo/.node" ]; then
    "$REPO_ROOT/scripts/node-down.sh" "$REPO_ROOT/demo/.node"
  fi
  "$REPO_ROOT/scripts/cluster-down.sh" "$RUN_DIR"
  log "done (logs and cluster data are kept in demo/.run; 'make demo' starts a fresh cluster)"
fi
