#!/usr/bin/env bash
# Webhook ingest benchmark: one Falco alert that dedup suppresses, POSTed over and over,
# zen-watcher (/falco/webhook) against falcosidekick (/ with no outputs configured), and a
# second zen-watcher with tracing on (every span exported over OTLP to a local collector) for
# the tracing overhead.
#
#   scripts/bench-ingest.sh [RUNS] [SECONDS]        # defaults: 5 runs of 10 s
#
# For each concurrency (CONCURRENCIES, default "1 16 64") and each run, every side is
# loaded with the same payload (bench/falco-alert.json), the same headers and the same load
# generator (oha), one after the other, the order rotating between runs. The alert
# is posted to zen-watcher once before the runs (written as an Observation); every request
# of the runs is then a duplicate inside DEDUP_WINDOW_SECONDS=3600 and suppressed.
#
# Output: raw results as JSON lines in bench/out/ingest.jsonl (appended; one line per run
# and side), and a summary table on stdout: median req/s, p50 and p99 per side, and the
# zen/sidekick ratio of req/s per run (median, min, max).
#
# Builds (all cached under ${ZEN_CACHE_DIR:-$HOME/.cache/zen-watcher}):
#   oha            cargo install oha --locked --version $OHA_VERSION   -> tools/oha-<v>/bin/oha
#   falcosidekick  bench/falcosidekick wrapper module, go get @$FALCOSIDEKICK_REF, go build
#                  (GOTOOLCHAIN=local)                                 -> bench/falcosidekick-<ref>/
#   zen-watcher    cargo build --release (CARGO_TARGET_DIR=<cache>/cargo-target)
#   zen-otelcol    scripts/build-otelcol.sh (the e2e collector; here with bench/otelcol.yaml:
#                  OTLP/gRPC in, batch, the debug exporter's one line per batch out)
# The control plane comes from scripts/cluster-up.sh bench/.run/cluster (stopped at the end
# if this script started it); the CRDs from crd-gen.
#
# Environment:
#   CONCURRENCIES="1 16 64"   client connections per run
#   FALCOSIDEKICK_BIN=path    use this falcosidekick binary instead of building one
#   SIDEKICK=auto|required|off  auto (default): if falcosidekick cannot be built, run the
#                             zen-watcher side alone (ratios n/a); required: fail instead
#   TRACED=on|off             the zen-traced side (default on)
#   BENCH_OUT=path            JSON lines file (default bench/out/ingest.jsonl); when
#                             falcosidekick is not run, the reason is written to
#                             sidekick-skipped.txt beside it
#
# Everything listens on and talks to 127.0.0.1 only; every oha run is bounded (-z, and a
# timeout around it). Processes started here are stopped by PID on exit.
# The numbers come from a shared 2-core machine: client and server share the cores, and the
# run-to-run spread is what the min/max of the ratio shows; read them as relative.
set -euo pipefail

RUNS="${1:-5}"
SECONDS_PER_RUN="${2:-10}"
CONCURRENCIES="${CONCURRENCIES:-1 16 64}"
SIDEKICK_MODE="${SIDEKICK:-auto}"
TRACED_MODE="${TRACED:-on}"

OHA_VERSION=1.16.0
# falcosidekick commit (master, go.mod "go 1.23.0", replace imdario/mergo => dario.cat/mergo).
FALCOSIDEKICK_REF=00175fbaafccd0a042d2321d3ac8b6bbbed0d93d

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib/cluster.sh
source "$REPO_ROOT/scripts/lib/cluster.sh"
CACHE="${ZEN_CACHE_DIR:-$HOME/.cache/zen-watcher}"
RUN_DIR="$REPO_ROOT/bench/.run"
CLUSTER_DIR="$RUN_DIR/cluster"
PAYLOAD="$REPO_ROOT/bench/falco-alert.json"
OUT="${BENCH_OUT:-$REPO_ROOT/bench/out/ingest.jsonl}"
TOKEN=bench

log() { echo "bench-ingest: $*" >&2; }
die() { log "error: $*"; exit 1; }

case "$RUNS" in '' | *[!0-9]* | 0) die "RUNS must be a positive integer" ;; esac
case "$SECONDS_PER_RUN" in '' | *[!0-9]* | 0) die "SECONDS must be a positive integer" ;; esac
for tool in curl python3 cargo go; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done
mkdir -p "$RUN_DIR" "$(dirname "$OUT")"
SKIPPED_FILE="$(dirname "$OUT")/sidekick-skipped.txt"
rm -f "$SKIPPED_FILE"

# ---- cleanup: only what this script started, by PID ------------------------------------
PIDS=()
STARTED_CLUSTER=0
cleanup() {
  local pid i
  # Newest first: the traced watcher stops (and flushes) before its collector.
  for (( i = ${#PIDS[@]} - 1; i >= 0; i-- )); do
    kill -TERM "${PIDS[i]}" 2>/dev/null || true
    sleep 0.2
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "$STARTED_CLUSTER" = 1 ]; then
    "$REPO_ROOT/scripts/cluster-down.sh" "$CLUSTER_DIR" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
elapsed() { echo $(( $(date +%s) - $1 )); }

# ---- 1. oha ------------------------------------------------------------------------------
OHA_ROOT="$CACHE/tools/oha-$OHA_VERSION"
OHA="$OHA_ROOT/bin/oha"
if [ ! -x "$OHA" ]; then
  log "building oha $OHA_VERSION (cargo install --locked) into $OHA_ROOT"
  t0=$(date +%s)
  cargo install oha --locked --version "$OHA_VERSION" --root "$OHA_ROOT" >&2 ||
    die "cargo install oha failed"
  log "oha built in $(elapsed "$t0") s"
fi
if "$OHA" --help 2>&1 | grep -q -- '--output-format'; then
  OHA_JSON=(--output-format json)
else
  OHA_JSON=(-j)
fi

# ---- 2. falcosidekick ------------------------------------------------------------------
SIDEKICK_BIN="${FALCOSIDEKICK_BIN:-}"
if [ -z "$SIDEKICK_BIN" ] && [ "$SIDEKICK_MODE" != off ]; then
  SK_DIR="$CACHE/bench/falcosidekick-$FALCOSIDEKICK_REF"
  if [ -x "$SK_DIR/falcosidekick" ]; then
    SIDEKICK_BIN="$SK_DIR/falcosidekick"
  else
    log "building falcosidekick @$FALCOSIDEKICK_REF (Go module proxy, GOTOOLCHAIN=local)"
    t0=$(date +%s)
    work="$(mktemp -d)"
    cp "$REPO_ROOT/bench/falcosidekick/go.mod" "$REPO_ROOT/bench/falcosidekick/tools.go" "$work/"
    if (cd "$work" &&
      GOTOOLCHAIN=local GOFLAGS=-mod=mod go get "github.com/falcosecurity/falcosidekick@$FALCOSIDEKICK_REF" &&
      GOTOOLCHAIN=local GOFLAGS=-mod=mod go build -trimpath -o "$work/falcosidekick" github.com/falcosecurity/falcosidekick) >&2; then
      mkdir -p "$SK_DIR"
      cp "$work/go.mod" "$work/go.sum" "$SK_DIR/" 2>/dev/null || true
      mv "$work/falcosidekick" "$SK_DIR/falcosidekick"
      SIDEKICK_BIN="$SK_DIR/falcosidekick"
      log "falcosidekick built in $(elapsed "$t0") s: $(grep falcosidekick "$SK_DIR/go.mod" | tr -s '\t ' ' ')"
    else
      [ "$SIDEKICK_MODE" = required ] && die "could not build falcosidekick @$FALCOSIDEKICK_REF"
      reason="$(cd "$work" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go list -m -json "github.com/falcosecurity/falcosidekick@$FALCOSIDEKICK_REF" 2>&1 | grep -m1 -E '403|404|not available|error' || true)"
      echo "falcosidekick @$FALCOSIDEKICK_REF could not be built from the Go module proxy: ${reason:-see the log of scripts/bench-ingest.sh}" >"$SKIPPED_FILE"
      log "WARNING: could not build falcosidekick @$FALCOSIDEKICK_REF; running the zen-watcher side alone (SIDEKICK=required makes this an error, FALCOSIDEKICK_BIN=path uses a prebuilt binary)"
    fi
    rm -rf "$work"
  fi
fi
if [ -z "$SIDEKICK_BIN" ] && [ "$SIDEKICK_MODE" = off ]; then
  echo "falcosidekick not run (SIDEKICK=off)" >"$SKIPPED_FILE"
fi

# ---- 3. zen-watcher, control plane, CRDs --------------------------------------------------
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/cargo-target}"
log "building zen-watcher (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
t0=$(date +%s)
(cd "$REPO_ROOT" && cargo build --locked --release -p zen-watcher --bin zen-watcher) >&2 ||
  die "cargo build --release failed"
log "zen-watcher build step took $(elapsed "$t0") s"
ZEN_BIN="$CARGO_TARGET_DIR/release/zen-watcher"

KUBECTL="$REPO_ROOT/.tools/bin/kubectl"
[ -x "$KUBECTL" ] || "$REPO_ROOT/scripts/install-tools.sh" >&2 || die "install-tools.sh failed"

cluster_up_or_reuse "$CLUSTER_DIR" || die "cluster-up.sh failed"
[ "$STARTED_CLUSTER" = 1 ] || log "reusing the control plane in $CLUSTER_DIR (left running at the end)"
(cd "$REPO_ROOT" && cargo run --locked -q -p crd-gen) | "$KUBECTL" apply -f - >&2 || die "applying the CRDs failed"

# ---- 4. start both servers ---------------------------------------------------------------
ZEN_PORT="$(free_port)"
ZEN_METRICS_PORT="$(free_port)"
while [ "$ZEN_METRICS_PORT" = "$ZEN_PORT" ]; do ZEN_METRICS_PORT="$(free_port)"; done
setsid env -i PATH="/usr/bin:/bin" KUBECONFIG="$KUBECONFIG" POD_NAME=bench-0 POD_NAMESPACE=default \
  WATCHER_PORT="$ZEN_PORT" METRICS_PORT="$ZEN_METRICS_PORT" WEBHOOK_AUTH_TOKEN="$TOKEN" \
  LOG_LEVEL=warn DEDUP_WINDOW_SECONDS=3600 ENABLE_LEADER_ELECTION=false \
  "$ZEN_BIN" >"$RUN_DIR/zen-watcher.log" 2>&1 </dev/null &
PIDS+=($!)
ZEN_PID=$!
log "zen-watcher: pid $ZEN_PID, webhook 127.0.0.1:$ZEN_PORT, metrics 127.0.0.1:$ZEN_METRICS_PORT, log bench/.run/zen-watcher.log"

# The same watcher with tracing on: every span (always_on) exported over OTLP/gRPC to a local
# collector, which decodes and batches them and logs one line per batch.
TR_PID=""
if [ "$TRACED_MODE" != off ]; then
  OTELCOL_BIN="$("$REPO_ROOT/scripts/build-otelcol.sh" | tail -n 1)" || die "build-otelcol.sh failed"
  OTLP_GRPC_PORT="$(free_port)"
  setsid env -i PATH="/usr/bin:/bin" OTLP_GRPC_PORT="$OTLP_GRPC_PORT" \
    "$OTELCOL_BIN" --config "$REPO_ROOT/bench/otelcol.yaml" >"$RUN_DIR/otelcol.log" 2>&1 </dev/null &
  PIDS+=($!)
  OTELCOL_PID=$!
  for _ in $(seq 1 100); do
    grep -q "Everything is ready" "$RUN_DIR/otelcol.log" 2>/dev/null && break
    kill -0 "$OTELCOL_PID" 2>/dev/null || { tail -n 20 "$RUN_DIR/otelcol.log" >&2; die "the collector exited at start-up"; }
    sleep 0.1
  done
  grep -q "Everything is ready" "$RUN_DIR/otelcol.log" || die "the collector is not ready after 10 s"
  TR_PORT="$(free_port)"
  TR_METRICS_PORT="$(free_port)"
  setsid env -i PATH="/usr/bin:/bin" KUBECONFIG="$KUBECONFIG" POD_NAME=bench-traced POD_NAMESPACE=default \
    WATCHER_PORT="$TR_PORT" METRICS_PORT="$TR_METRICS_PORT" WEBHOOK_AUTH_TOKEN="$TOKEN" \
    LOG_LEVEL=warn DEDUP_WINDOW_SECONDS=3600 ENABLE_LEADER_ELECTION=false \
    OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$OTLP_GRPC_PORT" OTEL_SERVICE_NAME=zen-watcher-bench \
    OTEL_TRACES_SAMPLER=always_on \
    "$ZEN_BIN" >"$RUN_DIR/zen-traced.log" 2>&1 </dev/null &
  PIDS+=($!)
  TR_PID=$!
  log "zen-watcher traced: pid $TR_PID, webhook 127.0.0.1:$TR_PORT, collector 127.0.0.1:$OTLP_GRPC_PORT (pid $OTELCOL_PID)"
fi

SK_PID=""
if [ -n "$SIDEKICK_BIN" ]; then
  SK_PORT="$(free_port)"
  # No outputs: no output section in the environment, an empty config file.
  : >"$RUN_DIR/falcosidekick.yaml"
  setsid env -i PATH="/usr/bin:/bin" LISTENADDRESS=127.0.0.1 LISTENPORT="$SK_PORT" DEBUG=false \
    "$SIDEKICK_BIN" -c "$RUN_DIR/falcosidekick.yaml" >"$RUN_DIR/falcosidekick.log" 2>&1 </dev/null &
  PIDS+=($!)
  SK_PID=$!
  log "falcosidekick: pid $SK_PID, 127.0.0.1:$SK_PORT, log bench/.run/falcosidekick.log"
fi

wait_200() { # name pid url
  local deadline=$(( $(date +%s) + 60 ))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$3" || true)" = 200 ]; do
    kill -0 "$2" 2>/dev/null || { tail -n 20 "$RUN_DIR/$1.log" >&2; die "$1 exited before becoming ready"; }
    [ "$(date +%s)" -lt "$deadline" ] || die "$1 not ready after 60 s"
    sleep 0.2
  done
}
wait_200 zen-watcher "$ZEN_PID" "http://127.0.0.1:$ZEN_METRICS_PORT/readyz"
[ -z "$TR_PID" ] || wait_200 zen-traced "$TR_PID" "http://127.0.0.1:$TR_METRICS_PORT/readyz"
[ -z "$SK_PID" ] || wait_200 falcosidekick "$SK_PID" "http://127.0.0.1:$SK_PORT/healthz"

post() { # url -> status code
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data-binary "@$PAYLOAD" "$1"
}
ZEN_URL="http://127.0.0.1:$ZEN_PORT/falco/webhook"
code="$(post "$ZEN_URL")"
case "$code" in 2??) ;; *) die "first POST to zen-watcher answered $code" ;; esac
log "first alert posted to zen-watcher ($code); the rest are duplicates"
if [ -n "$TR_PID" ]; then
  TR_URL="http://127.0.0.1:$TR_PORT/falco/webhook"
  code="$(post "$TR_URL")"
  case "$code" in 2??) ;; *) die "first POST to the traced zen-watcher answered $code" ;; esac
fi
if [ -n "$SK_PID" ]; then
  SK_URL="http://127.0.0.1:$SK_PORT/"
  code="$(post "$SK_URL")"
  case "$code" in 2??) ;; *) die "first POST to falcosidekick answered $code" ;; esac
fi
dedup_count() {
  curl -s --max-time 5 "http://127.0.0.1:$ZEN_METRICS_PORT/metrics" |
    sed -n 's/^zen_watcher_events_deduplicated_total{source="falco"} //p' | head -n 1
}

# ---- 5. load ------------------------------------------------------------------------------
CLK_TCK="$(getconf CLK_TCK)"
# CPU time (user + system) the server process has used so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
pid_of() {
  case "$1" in
    zen) echo "$ZEN_PID" ;;
    sidekick) echo "$SK_PID" ;;
    zen-traced) echo "$TR_PID" ;;
  esac
}

run_oha() { # side url concurrency run -> appends one JSON line
  local side=$1 url=$2 conc=$3 run=$4 raw pid cpu_before cpu_after
  raw="$RUN_DIR/oha-$side-c$conc-r$run.json"
  pid="$(pid_of "$side")"
  cpu_before="$(cpu_ticks "$pid")"
  timeout --signal=KILL $(( SECONDS_PER_RUN + 60 )) "$OHA" --no-tui "${OHA_JSON[@]}" \
    -z "${SECONDS_PER_RUN}s" -c "$conc" -m POST \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -D "$PAYLOAD" \
    "$url" >"$raw" 2>"$raw.err" || die "oha failed ($side c=$conc run $run): $(head -c 500 "$raw.err")"
  cpu_after="$(cpu_ticks "$pid")"
  python3 - "$raw" "$side" "$conc" "$run" "$SECONDS_PER_RUN" "$OHA_VERSION" \
    "$(( cpu_after - cpu_before ))" "$CLK_TCK" >>"$OUT" <<'PY'
import json, sys, time
raw, side, conc, run, secs, oha, ticks, tck = sys.argv[1:]
d = json.load(open(raw))
s, p = d["summary"], d.get("latencyPercentiles", {})
ms = lambda v: None if v is None else round(v * 1000, 4)
codes = d.get("statusCodeDistribution", {})
print(json.dumps({
    "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "bench": "ingest-falco-dedup", "side": side, "concurrency": int(conc), "run": int(run),
    "seconds": int(secs), "tool": "oha " + oha,
    "rps": s.get("requestsPerSec"), "p50_ms": ms(p.get("p50")), "p99_ms": ms(p.get("p99")),
    "success_rate": s.get("successRate"), "status_codes": codes,
    "errors": d.get("errorDistribution", {}),
    # The server process's own CPU time over the run (not the collector's, not oha's).
    "server_cpu_seconds": int(ticks) / int(tck),
    "server_cpu_us_per_request": round(int(ticks) / int(tck) * 1e6 / max(1, sum(codes.values())), 2),
}))
PY
}

SIDES=(zen)
[ -z "$SK_PID" ] || SIDES+=(sidekick)
[ -z "$TR_PID" ] || SIDES+=(zen-traced)
url_of() {
  case "$1" in
    zen) echo "$ZEN_URL" ;;
    sidekick) echo "$SK_URL" ;;
    zen-traced) echo "$TR_URL" ;;
  esac
}

log "warm-up: 2 s per side"
for side in "${SIDES[@]}"; do
  timeout --signal=KILL 30 "$OHA" --no-tui -z 2s -c 16 -m POST -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -D "$PAYLOAD" "$(url_of "$side")" >/dev/null 2>&1 || true
done

SESSION_START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
dedup_before="$(dedup_count)"
for conc in $CONCURRENCIES; do
  for run in $(seq 1 "$RUNS"); do
    # Rotate the order between runs, so no side always runs first or after the same one.
    shift_by=$(( (run - 1) % ${#SIDES[@]} ))
    order=("${SIDES[@]:shift_by}" "${SIDES[@]:0:shift_by}")
    for side in "${order[@]}"; do
      log "c=$conc run $run/$RUNS: $side (${SECONDS_PER_RUN} s)"
      run_oha "$side" "$(url_of "$side")" "$conc" "$run"
    done
  done
done
dedup_after="$(dedup_count)"
kill -0 "$ZEN_PID" 2>/dev/null || die "zen-watcher died during the runs"
[ -z "$SK_PID" ] || kill -0 "$SK_PID" 2>/dev/null || die "falcosidekick died during the runs"
[ -z "$TR_PID" ] || kill -0 "$TR_PID" 2>/dev/null || die "the traced zen-watcher died during the runs"

# ---- 6. summary ---------------------------------------------------------------------------
echo
echo "ingest benchmark: Falco alert suppressed by dedup; $RUNS run(s) x ${SECONDS_PER_RUN} s per side and concurrency; oha $OHA_VERSION"
echo "zen-watcher $(cd "$REPO_ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?') (release); falcosidekick ${SIDEKICK_BIN:+@${FALCOSIDEKICK_REF:0:12}}${SIDEKICK_BIN:-not run}"
echo "zen_watcher_events_deduplicated_total{source=falco}: $dedup_before -> $dedup_after"
echo "machine: $(nproc) cores shared by client and servers, noisy; compare sides within a run, not across machines"
python3 - "$OUT" "$SESSION_START" <<'PY'
import json, statistics as st, sys
out, start = sys.argv[1:]
rows = [json.loads(l) for l in open(out) if l.strip()]
rows = [r for r in rows if r["ts"] >= start and r.get("bench") == "ingest-falco-dedup"]
med = lambda xs: st.median(xs) if xs else None
f = lambda v, fmt: format("n/a", ">" + fmt.split(".")[0].rstrip("fd")) if v is None else format(v, fmt)
print(f"{'conc':>4}  {'zen req/s':>10} {'p50 ms':>7} {'p99 ms':>7}  {'sk req/s':>10} {'p50 ms':>7} {'p99 ms':>7}  {'ratio zen/sk (min..max)':>24}  failed")
for conc in sorted({r["concurrency"] for r in rows}):
    by = {s: [r for r in rows if r["concurrency"] == conc and r["side"] == s] for s in ("zen", "sidekick")}
    col = lambda s, k: med([r[k] for r in by[s] if r[k] is not None])
    runs = {r["run"]: r for r in by["sidekick"]}
    ratios = [r["rps"] / runs[r["run"]]["rps"] for r in by["zen"] if r["run"] in runs and runs[r["run"]]["rps"]]
    ratio = "n/a" if not ratios else f"{st.median(ratios):.2f} ({min(ratios):.2f}..{max(ratios):.2f})"
    bad = sum(n for s in by.values() for r in s for c, n in r["status_codes"].items() if not c.startswith("2"))
    # oha -z cuts the requests in flight at the deadline ("aborted due to deadline"): not failures.
    bad += sum(n for s in by.values() for r in s for e, n in r["errors"].items() if e != "aborted due to deadline")
    print(f"{conc:>4}  {f(col('zen','rps'),'10.0f')} {f(col('zen','p50_ms'),'7.3f')} {f(col('zen','p99_ms'),'7.3f')}  "
          f"{f(col('sidekick','rps'),'10.0f')} {f(col('sidekick','p50_ms'),'7.3f')} {f(col('sidekick','p99_ms'),'7.3f')}  {ratio:>24}  {bad}")
print(f"raw: {out}")
PY
