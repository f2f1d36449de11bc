#!/usr/bin/env bash
# make chaos: delivery guarantees under faults (zen-bench chaos), written to RELIABILITY.md.
# Not part of `make test` (about 5 minutes). Builds release binaries, runs its own control
# plane and three replicas, SIGKILLs and SIGTERMs leaders, freezes and restarts the apiserver
# under load; exits 1 when a guarantee did not hold. Extra arguments go to `zen-bench chaos`
# (e.g. `CHAOS_REPORT=/tmp/r.md scripts/chaos.sh --identities 200 --seconds 40` for a short
# trial that leaves RELIABILITY.md alone).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/zen-watcher/cargo-target}
ZEN_CONTROLPLANE_BIN=$(scripts/build-controlplane.sh | tail -n 1)
export ZEN_CONTROLPLANE_BIN
cargo build --release --locked -p zen-watcher --bin zen-watcher -p zen-watcher-bench --bin zen-bench
export ZEN_WATCHER_BIN=$CARGO_TARGET_DIR/release/zen-watcher
mkdir -p bench/.run/logs bench/out
"$CARGO_TARGET_DIR/release/zen-bench" --out bench/out --logs bench/.run/logs chaos --report "${CHAOS_REPORT:-RELIABILITY.md}" "$@"
