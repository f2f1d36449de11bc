#!/usr/bin/env bash
# Stop the zen-otelcol started by scripts/otelcol-up.sh (by its recorded pid).
set -euo pipefail

OTELCOL_DIR="${OTELCOL_DIR:-${ZEN_CACHE_DIR:-$HOME/.cache/zen-watcher}/otelcol-run}"
PIDFILE="$OTELCOL_DIR/pid"

if [ ! -f "$PIDFILE" ]; then
  echo "otelcol-down: no collector recorded in $OTELCOL_DIR" >&2
  exit 0
fi
PID="$(cat "$PIDFILE")"
if kill -0 "$PID" 2>/dev/null && [ "$(cat "/proc/$PID/comm" 2>/dev/null)" = zen-otelcol ]; then
  kill "$PID"
  for _ in $(seq 1 50); do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$PID" 2>/dev/null; then
    kill -9 "$PID" 2>/dev/null || true
  fi
  echo "otelcol-down: stopped pid $PID" >&2
fi
rm -f "$PIDFILE"
