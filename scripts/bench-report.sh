#!/usr/bin/env bash
# Benchmark report: turns the benchmark results into BENCHMARKS.md and the PNG plots in
# docs/bench/ (bench/report.py; `make bench` runs it after the benchmarks).
#
#   scripts/bench-report.sh [OUT_DIR]      # OUT_DIR: the results (default bench/out)
#
# Inputs: OUT_DIR/{ingest,write-rate,failover,memory}.jsonl and OUT_DIR/meta.json, Criterion's
# results under $CARGO_TARGET_DIR/criterion, explanations in bench/notes/<section>.md. Every
# one is optional: what is missing is reported as "not measured". Only an unreadable or
# malformed file is an error (the message names the file and line).
#
# Python: a venv at ${ZEN_CACHE_DIR:-$HOME/.cache/zen-watcher}/bench-venv with the pinned
# bench/requirements.txt (binary wheels only, from PyPI). It is re-created when that file or
# python3's version changes: the venv keeps a stamp of both.
#
# Environment:
#   CARGO_TARGET_DIR=path     Criterion results in $CARGO_TARGET_DIR/criterion
#                             (default $HOME/.cache/zen-watcher/cargo-target)
#   BENCH_MARKDOWN=path       markdown to write (default BENCHMARKS.md at the repo root)
#   BENCH_PLOTS=path          plot directory (default docs/bench)
#   BENCH_NOTES=path          explanations directory (default bench/notes)
# Relative paths given as OUT_DIR or in BENCH_* are taken from the current directory.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${ZEN_CACHE_DIR:-$HOME/.cache/zen-watcher}"
VENV="$CACHE/bench-venv"
REQUIREMENTS="$REPO_ROOT/bench/requirements.txt"
STAMP="$VENV/requirements.stamp"

log() { echo "bench-report: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$#" -le 1 ] || die "usage: scripts/bench-report.sh [OUT_DIR]"
abs() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
IN_DIR="$(abs "${1:-$REPO_ROOT/bench/out}")"
MARKDOWN="$(abs "${BENCH_MARKDOWN:-$REPO_ROOT/BENCHMARKS.md}")"
PLOTS="$(abs "${BENCH_PLOTS:-$REPO_ROOT/docs/bench}")"
NOTES="$(abs "${BENCH_NOTES:-$REPO_ROOT/bench/notes}")"
CRITERION="${CARGO_TARGET_DIR:-$HOME/.cache/zen-watcher/cargo-target}/criterion"

command -v python3 >/dev/null 2>&1 || die "python3 is required"
[ -d "$IN_DIR" ] || log "no $IN_DIR: every benchmark will read as not measured"

# ---- venv: (re-)created when requirements.txt or python3 changed -------------------------
want_stamp() {
  python3 --version
  cat "$REQUIREMENTS"
}
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && "$VENV/bin/python" -c '' 2>/dev/null &&
  [ "$(want_stamp)" = "$(cat "$STAMP")" ]; then
  :
else
  log "creating $VENV (python3 -m venv; pip install --only-binary=:all: -r bench/requirements.txt)"
  rm -rf "$VENV"
  mkdir -p "$CACHE"
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --only-binary=:all: -r "$REQUIREMENTS" >&2 || die "pip install -r bench/requirements.txt failed"
  # Written last: a venv without the stamp is re-created on the next run.
  want_stamp >"$STAMP"
fi

# ---- report -------------------------------------------------------------------------------
"$VENV/bin/python" "$REPO_ROOT/bench/report.py" \
  --in "$IN_DIR" \
  --criterion "$CRITERION" \
  --markdown "$MARKDOWN" \
  --plots "$PLOTS" \
  --notes "$NOTES"
