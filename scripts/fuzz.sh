#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each (default 20) with cargo-fuzz (libFuzzer) and
# fails when any target finds a crash, timeout or OOM. Usage: scripts/fuzz.sh [SECONDS]
#
# Works on the STABLE toolchain: `--sanitizer none` keeps cargo-fuzz from passing
# `-Zsanitizer=address` (nightly-only); libFuzzer's coverage instrumentation (`-Cpasses=sancov-module`,
# `-Cllvm-args=-sanitizer-coverage-*`) is stable. Safe Rust needs no ASan to turn panics and
# overflows (debug assertions are on) into findings. With a nightly, FUZZ_SANITIZER=address
# scripts/fuzz.sh adds ASan (set RUSTUP_TOOLCHAIN=nightly too).
#
# Seeds are committed in fuzz/seeds/<target>/ (read only); libFuzzer writes what it learns to
# fuzz/corpus/<target>/ and crashing inputs to fuzz/artifacts/<target>/ (both gitignored).
# cargo-fuzz is installed once (pinned) under $HOME/.cache/zen-watcher/tools.
set -euo pipefail
seconds=${1:-20}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }

VERSION=0.13.2
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${ZEN_CACHE:-$HOME/.cache/zen-watcher}
tool_dir=$cache/tools/cargo-fuzz
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$cache/fuzz-target}
export PATH=$tool_dir/bin:$PATH
sanitizer=${FUZZ_SANITIZER:-none}

if [[ "$(cargo-fuzz --version 2>/dev/null)" != "cargo-fuzz $VERSION" ]]; then
  cargo install cargo-fuzz --version "$VERSION" --locked --root "$tool_dir"
fi

cd "$root/fuzz"
targets=$(cargo fuzz list)
# One build for all targets, so its output is not mixed into the per-target logs.
cargo fuzz build --sanitizer "$sanitizer"

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=()
summary=()
for target in $targets; do
  mkdir -p "corpus/$target" "artifacts/$target"
  dict=dicts/json.dict
  [[ -f dicts/$target.dict ]] && dict=dicts/$target.dict
  seeds=()
  [[ -d seeds/$target ]] && seeds=("seeds/$target")
  log=$logs/$target.log
  echo "fuzzing $target for ${seconds}s"
  status=0
  cargo fuzz run --sanitizer "$sanitizer" "$target" "corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict="$dict" -artifact_prefix="artifacts/$target/" >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  [[ -n $runs ]] || runs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -n1)
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n1)
  if ((status != 0)); then
    failed+=("$target")
    echo "---- $target: finding (exit $status) ----" >&2
    grep -E -A2 'panicked at|ERROR: libFuzzer|==[0-9]+== ?ERROR|Test unit written' "$log" >&2 ||
      grep -v '^#[0-9]' "$log" | tail -n 40 >&2
    summary+=("$(printf '%-12s FAILED  runs=%s  crashes=1  input=fuzz/%s' \
      "$target" "${runs:-?}" "${artifact:-?}")")
  else
    summary+=("$(printf '%-12s ok      runs=%s  crashes=0' "$target" "${runs:-?}")")
  fi
done

echo "== fuzz summary (${seconds}s per target) =="
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "findings in: ${failed[*]} (reproduce: cd fuzz && cargo fuzz run --sanitizer $sanitizer <target> <input>)" >&2
  exit 1
fi
