#!/usr/bin/env bash
# Start zen-otelcol (built/cached by scripts/build-otelcol.sh) in the background
# on free 127.0.0.1 ports, with e2e/otelcol/config.yaml, and wait until it is ready.
#
#   eval "$(scripts/otelcol-up.sh)"    # exports OTLP_GRPC_PORT, OTLP_HTTP_PORT,
#                                      # OTEL_FILE, OTELCOL_PID, OTELCOL_DIR
#   ... send spans, read "$OTEL_FILE" (one JSON ExportTraceServiceRequest a line) ...
#   scripts/otelcol-down.sh
#
# State (pid, log, spans file, env) lives in $OTELCOL_DIR, default
# ${ZEN_CACHE_DIR:-$HOME/.cache/zen-watcher}/otelcol-run. The same lines as
# printed are in $OTELCOL_DIR/env.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OTELCOL_DIR="${OTELCOL_DIR:-${ZEN_CACHE_DIR:-$HOME/.cache/zen-watcher}/otelcol-run}"

die() { echo "otelcol-up: error: $*" >&2; exit 1; }

if [ -f "$OTELCOL_DIR/pid" ] && kill -0 "$(cat "$OTELCOL_DIR/pid")" 2>/dev/null; then
  die "a collector is already running (pid $(cat "$OTELCOL_DIR/pid")); run scripts/otelcol-down.sh first"
fi

BIN="$("$REPO_ROOT/scripts/build-otelcol.sh" | tail -n1)"
[ -x "$BIN" ] || die "build-otelcol.sh did not yield a binary"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
command -v python3 >/dev/null 2>&1 || die "python3 is needed to pick free ports"

mkdir -p "$OTELCOL_DIR"
export OTLP_GRPC_PORT="${OTLP_GRPC_PORT:-$(free_port)}"
export OTLP_HTTP_PORT="${OTLP_HTTP_PORT:-$(free_port)}"
export OTEL_FILE="${OTEL_FILE:-$OTELCOL_DIR/spans.json}"
rm -f "$OTEL_FILE"
LOG="$OTELCOL_DIR/collector.log"

"$BIN" --config "$REPO_ROOT/e2e/otelcol/config.yaml" >"$LOG" 2>&1 </dev/null &
PID=$!
echo "$PID" >"$OTELCOL_DIR/pid"

for _ in $(seq 1 100); do
  if grep -q "Everything is ready" "$LOG" 2>/dev/null; then
    break
  fi
  kill -0 "$PID" 2>/dev/null || { cat "$LOG" >&2; rm -f "$OTELCOL_DIR/pid"; die "collector exited at start-up (log above)"; }
  sleep 0.1
done
grep -q "Everything is ready" "$LOG" || { cat "$LOG" >&2; kill "$PID" 2>/dev/null || true; rm -f "$OTELCOL_DIR/pid"; die "collector not ready after 10s"; }

cat >"$OTELCOL_DIR/env" <<ENV
export OTLP_GRPC_PORT=$OTLP_GRPC_PORT
export OTLP_HTTP_PORT=$OTLP_HTTP_PORT
export OTEL_FILE=$OTEL_FILE
export OTELCOL_PID=$PID
export OTELCOL_DIR=$OTELCOL_DIR
ENV
echo "otelcol-up: zen-otelcol pid $PID, OTLP gRPC 127.0.0.1:$OTLP_GRPC_PORT, HTTP 127.0.0.1:$OTLP_HTTP_PORT, spans -> $OTEL_FILE" >&2
cat "$OTELCOL_DIR/env"
