#!/usr/bin/env bash
# make bench: every benchmark of docs/architecture.md ("Performance targets"), then BENCHMARKS.md and its plots.
#
#   scripts/bench.sh                  # the full set (about 25 minutes on a 2-core machine)
#   BENCH_QUICK=1 scripts/bench.sh    # fewer and shorter runs (a smoke test of the tooling)
#   BENCH_ONLY="failover memory" scripts/bench.sh
#
# Steps (each one's output goes to bench/.run/<step>.log; a failed step is reported in
# BENCHMARKS.md as not measured, the others still run, and the script exits 1 at the end):
#   pipeline    cargo bench: the core's admission bench and the span-cost bench (criterion micro-benchmarks)
#   ingest      scripts/bench-ingest.sh: zen-watcher vs falcosidekick vs zen-watcher traced
#   write-rate  zen-bench write-rate: webhook events written vs a bare kube-rs client
#   failover    zen-bench failover: SIGTERM and SIGKILL at the default Lease timings
#   memory      zen-bench memory: idle, after 100k webhook events, 2,000 VulnerabilityReports
# then scripts/bench-report.sh writes BENCHMARKS.md and docs/bench/*.png from bench/out/.
#
# Everything is built in release mode (CARGO_TARGET_DIR, default ~/.cache/zen-watcher/
# cargo-target) and runs against a local kube-apiserver + etcd (scripts/cluster-up.sh
# bench/.run/cluster, stopped at the end if started here). Results of earlier runs in
# bench/out/ are moved to bench/out/previous/ first; with BENCH_ONLY, only the results of the
# benchmarks it names are, and the report still shows the others' earlier results.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib/cluster.sh
source "$REPO_ROOT/scripts/lib/cluster.sh"
CACHE="${ZEN_CACHE_DIR:-$HOME/.cache/zen-watcher}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/cargo-target}"
RUN_DIR="$REPO_ROOT/bench/.run"
CLUSTER_DIR="$RUN_DIR/cluster"
OUT="$REPO_ROOT/bench/out"
ONLY="${BENCH_ONLY:-pipeline ingest write-rate failover memory}"
COMMAND="make bench${BENCH_QUICK:+ BENCH_QUICK=1}${BENCH_ONLY:+ BENCH_ONLY=\"$BENCH_ONLY\"}"

log() { echo "bench: $*" >&2; }
die() { log "error: $*"; exit 1; }
wants() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if [ -n "${BENCH_QUICK:-}" ]; then
  CRITERION_ARGS=(--warm-up-time 1 --measurement-time 2)
  INGEST_RUNS=1 INGEST_SECONDS=3
  WRITE_ARGS=(--events 1000 --runs 2)
  FAILOVER_ARGS=(--runs 2)
  MEMORY_ARGS=(--events 10000 --distinct 2000 --reports 200)
else
  CRITERION_ARGS=(--warm-up-time 3 --measurement-time 10)
  INGEST_RUNS=5 INGEST_SECONDS=10
  WRITE_ARGS=(--events 3000 --runs 5)
  FAILOVER_ARGS=(--runs 5)
  MEMORY_ARGS=(--events 100000 --distinct 20000 --reports 2000 --vulnerabilities 100)
fi

mkdir -p "$RUN_DIR" "$OUT"
results_of() { # step -> its files in bench/out
  case "$1" in
    ingest) echo "ingest.jsonl sidekick-skipped.txt" ;;
    write-rate | failover | memory) echo "$1.jsonl" ;;
  esac
}
rm -rf "$OUT/previous"
mkdir -p "$OUT/previous"
for name in pipeline ingest write-rate failover memory; do
  wants "$name" || continue
  for file in $(results_of "$name"); do
    [ ! -f "$OUT/$file" ] || mv "$OUT/$file" "$OUT/previous/"
  done
done

STARTED_CLUSTER=0
cleanup() {
  if [ "$STARTED_CLUSTER" = 1 ]; then
    "$REPO_ROOT/scripts/cluster-down.sh" "$CLUSTER_DIR" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building zen-watcher and zen-bench (release)"
(cd "$REPO_ROOT" && cargo build --locked --release -p zen-watcher --bin zen-watcher -p zen-watcher-bench --bin zen-bench) >&2 ||
  die "cargo build --release failed"
export ZEN_WATCHER_BIN="$CARGO_TARGET_DIR/release/zen-watcher"
ZEN_BENCH="$CARGO_TARGET_DIR/release/zen-bench"
[ -x "$REPO_ROOT/.tools/bin/kubectl" ] || "$REPO_ROOT/scripts/install-tools.sh" >&2 || die "install-tools.sh failed"

cluster_up_or_reuse "$CLUSTER_DIR" || die "cluster-up.sh failed"
[ "$STARTED_CLUSTER" = 1 ] || log "reusing the control plane in $CLUSTER_DIR (left running at the end)"

FAILED=()
SKIPPED_JSON="$RUN_DIR/skipped.jsonl"
: >"$SKIPPED_JSON"
skip() { # name reason
  python3 -c 'import json,sys; print(json.dumps({"name": sys.argv[1], "reason": sys.argv[2]}))' "$1" "$2" >>"$SKIPPED_JSON"
}
step() { # name command...
  local name=$1 t0
  shift
  if ! wants "$name"; then
    local file kept=0
    for file in $(results_of "$name"); do [ ! -f "$OUT/$file" ] || kept=1; done
    [ "$name" != pipeline ] || [ ! -d "$CARGO_TARGET_DIR/criterion" ] || kept=1
    [ "$kept" = 1 ] || skip "$name" "not run (BENCH_ONLY=\"$ONLY\")"
    return 0
  fi
  log "$name: running (log: bench/.run/$name.log)"
  t0=$(date +%s)
  if (cd "$REPO_ROOT" && "$@") >"$RUN_DIR/$name.log" 2>&1; then
    log "$name: done in $(( $(date +%s) - t0 )) s"
  else
    log "$name: FAILED after $(( $(date +%s) - t0 )) s; last lines of bench/.run/$name.log:"
    tail -n 20 "$RUN_DIR/$name.log" >&2
    FAILED+=("$name")
    skip "$name" "the benchmark failed on this run (see bench/.run/$name.log)"
  fi
}

step pipeline cargo bench --locked -p zen-watcher-core --bench admission -p zen-watcher --bench tracing -- "${CRITERION_ARGS[@]}"
step ingest env BENCH_OUT="$OUT/ingest.jsonl" scripts/bench-ingest.sh "$INGEST_RUNS" "$INGEST_SECONDS"
step write-rate "$ZEN_BENCH" --out "$OUT" --logs "$RUN_DIR/logs" write-rate "${WRITE_ARGS[@]}"
step failover "$ZEN_BENCH" --out "$OUT" --logs "$RUN_DIR/logs" failover "${FAILOVER_ARGS[@]}"
step memory "$ZEN_BENCH" --out "$OUT" --logs "$RUN_DIR/logs" memory "${MEMORY_ARGS[@]}"

if [ -f "$OUT/sidekick-skipped.txt" ]; then
  skip falcosidekick "$(cat "$OUT/sidekick-skipped.txt")"
fi

# ---- meta.json: machine, versions, command ------------------------------------------------
apiserver_version="$("$REPO_ROOT/.tools/bin/kubectl" version -o json 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])' 2>/dev/null || echo unknown)"
oha_version="$(ls -d "$CACHE"/tools/oha-* 2>/dev/null | sed 's/.*oha-//' | sort -V | tail -n 1)"
python3 - "$OUT/meta.json" "$SKIPPED_JSON" "$COMMAND" \
  "$(cd "$REPO_ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$REPO_ROOT" && git diff --quiet HEAD 2>/dev/null || echo '+changes')" \
  "$(rustc --version)" "$(go version | awk '{print $3}')" "$apiserver_version" "${oha_version:-not built}" \
  "$(grep -m1 '^version' "$REPO_ROOT/Cargo.toml" | cut -d'"' -f2)" <<'PY'
import json, os, platform, sys, time
out, skipped_file, command, commit, rustc, go, apiserver, oha, version = sys.argv[1:]
def first(path, key):
    try:
        for line in open(path):
            if line.startswith(key):
                return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "unknown"
mem_kib = first("/proc/meminfo", "MemTotal")
skipped = {}
for line in open(skipped_file):
    if line.strip():
        r = json.loads(line)
        skipped[r["name"]] = r["reason"]
meta = {
    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    "command": command,
    "git_commit": commit,
    "machine": {
        "cpu": first("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "memory_gib": round(int(mem_kib.split()[0]) / 1024 / 1024, 1) if mem_kib != "unknown" else None,
        "kernel": platform.release(),
        "os": first("/etc/os-release", "PRETTY_NAME"),
    },
    "versions": {
        "zen-watcher": version + " (" + commit + ", release build)",
        "rustc": rustc.replace("rustc ", ""),
        "go": go,
        "kube-apiserver": apiserver + " (with embedded etcd, e2e/controlplane)",
        "oha": oha,
    },
    "notes": [
        "Client, servers and the apiserver share the machine's cores: compare sides within a run (ratios), not with other machines.",
    ],
    "skipped": skipped,
}
json.dump(meta, open(out, "w"), indent=2, sort_keys=True)
PY

"$REPO_ROOT/scripts/bench-report.sh" "$OUT" >&2 || die "bench-report.sh failed"
log "wrote BENCHMARKS.md and docs/bench/*.png"
if [ "${#FAILED[@]}" -gt 0 ]; then
  die "these benchmarks failed: ${FAILED[*]}"
fi
