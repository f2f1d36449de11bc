#!/usr/bin/env bash
# Build (or reuse a cached build of) zen-otelcol, an OpenTelemetry Collector
# made with the collector builder (ocb) from e2e/otelcol/builder-config.yaml:
# OTLP receiver (gRPC + HTTP), batch processor, file + debug exporters.
#
#   scripts/build-otelcol.sh         # prints the binary path as the last stdout line
#
# The binary is cached at
#   ${ZEN_CACHE_DIR:-$HOME/.cache/zen-watcher}/otelcol/<hash>/zen-otelcol
# where <hash> covers the manifest, `go version` and the build recipe below.
# A warm cache means no build at all. The builder itself is installed to
#   ${ZEN_CACHE_DIR:-$HOME/.cache/zen-watcher}/tools/ocb-<version>/builder
# Only the Go module proxy is needed (GOTOOLCHAIN=local, no toolchain download).
set -euo pipefail

export GOTOOLCHAIN=local

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
REPO_ROOT="$(cd "$(dirname "$SELF")/.." && pwd)"
MANIFEST="$REPO_ROOT/e2e/otelcol/builder-config.yaml"
CACHE_ROOT="${ZEN_CACHE_DIR:-$HOME/.cache/zen-watcher}"
DIST_NAME=zen-otelcol

die() { echo "build-otelcol: error: $*" >&2; exit 1; }
log() { echo "build-otelcol: $*" >&2; }

command -v go >/dev/null 2>&1 || die "'go' not found in PATH; Go 1.26.x is required"
GO_VERSION="$(go version)"
case "$GO_VERSION" in
  "go version go1.26 "* | "go version go1.26."*) ;;
  *) die "Go 1.26.x is required (collector v0.165 modules need go >= 1.26.0; GOTOOLCHAIN=local forbids downloading one), found: $GO_VERSION" ;;
esac

[ -f "$MANIFEST" ] || die "missing $MANIFEST"

# The builder version is the core (v0.x) component version of the manifest;
# every go.opentelemetry.io/collector v0.x module there must use it.
OCB_VERSION="$(awk '$2 == "gomod:" && $3 == "go.opentelemetry.io/collector/receiver/otlpreceiver" { print $4; exit }' "$MANIFEST")"
[ -n "$OCB_VERSION" ] || die "cannot find the otlpreceiver version in $MANIFEST"
BAD="$(awk -v v="$OCB_VERSION" '$2 == "gomod:" && $3 ~ /^go\.opentelemetry\.io\/collector\// && $4 ~ /^v0\./ && $4 != v { print $3 " " $4 }' "$MANIFEST")"
[ -z "$BAD" ] || die "core v0.x component versions must all equal the builder version $OCB_VERSION: $BAD"

HASH="$(
  {
    echo "$GO_VERSION"
    cat "$MANIFEST"
    sed -n '/^# --- build recipe ---$/,$p' "$SELF"
  } | sha256sum | cut -c1-16
)"
OUT_DIR="$CACHE_ROOT/otelcol/$HASH"
BIN="$OUT_DIR/$DIST_NAME"

if [ -x "$BIN" ]; then
  log "cached: $BIN"
  echo "$BIN"
  exit 0
fi

# --- build recipe ---
OCB_DIR="$CACHE_ROOT/tools/ocb-$OCB_VERSION"
OCB="$OCB_DIR/builder"
if [ ! -x "$OCB" ]; then
  log "installing go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
  mkdir -p "$OCB_DIR"
  GOBIN="$OCB_DIR" go install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION" >&2 \
    || die "go install of the collector builder failed (GOPROXY=$(go env GOPROXY))"
fi

mkdir -p "$CACHE_ROOT/otelcol"
WORK="$(mktemp -d "$CACHE_ROOT/otelcol/.build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# 1. Generate the sources only (output_path ./gen is relative to $WORK).
#    ocb's own module step runs `go mod tidy`, which also resolves the test
#    dependencies of every component: fileexporter's tests import
#    contrib/extension/encoding/otlpencodingextension, whose zip the module
#    proxy does not serve ("403 Forbidden ... This module version is not
#    available"), so ocb fails there. Hence --skip-get-modules (which also skips
#    writing go.mod) and a go.mod made here from the manifest; `go build
#    -mod=mod` then resolves only what the binary imports.
log "generating sources with ocb $OCB_VERSION in $WORK/gen"
(cd "$WORK" && "$OCB" --config "$MANIFEST" --skip-get-modules --skip-compilation) >&2 \
  || die "ocb failed to generate the collector sources"
GEN="$WORK/gen"
[ -f "$GEN/components.go" ] || die "ocb did not write $GEN/components.go (check dist.output_path in $MANIFEST)"

MODULE="$(awk '$1 == "module:" { print $2; exit }' "$MANIFEST")"
[ -n "$MODULE" ] || die "dist.module missing from $MANIFEST"
REQUIRES=()
while read -r mod ver; do
  REQUIRES+=("-require=$mod@$ver")
done < <(awk '$2 == "gomod:" { print $3, $4 }' "$MANIFEST")
# what the generated main.go imports besides the components (ocb's go.mod template)
REQUIRES+=("-require=go.opentelemetry.io/collector/otelcol@$OCB_VERSION")
REQUIRES+=("-require=go.opentelemetry.io/collector/service@$OCB_VERSION")

# 2. Build, like ocb does (-trimpath, -ldflags '-s -w').
log "building $DIST_NAME (a cold build takes a few minutes)"
(
  cd "$GEN"
  rm -f go.mod go.sum
  go mod init "$MODULE" 2>/dev/null || go mod init "$MODULE"   # quiet "to add module requirements" hint
  go mod edit -go=1.26.0 "${REQUIRES[@]}"
  go build -mod=mod -trimpath -ldflags='-s -w' -o "$DIST_NAME" .
) >&2 || die "go build of the collector failed"

# 3. Smoke check: the binary runs and has the components the e2e tests use.
COMPONENTS="$("$GEN/$DIST_NAME" components 2>&1)" || die "'$DIST_NAME components' failed: $COMPONENTS"
for c in otlp file debug batch; do
  grep -Eq "^[[:space:]]*-?[[:space:]]*name:[[:space:]]*$c\$" <<<"$COMPONENTS" \
    || die "component '$c' missing from the built collector"
done

STAGE="$WORK/out"
mkdir -p "$STAGE"
cp "$GEN/$DIST_NAME" "$GEN/go.mod" "$GEN/go.sum" "$STAGE/"
if ! mv -T "$STAGE" "$OUT_DIR" 2>/dev/null; then
  [ -x "$BIN" ] || die "cannot move the build to $OUT_DIR"
fi
log "built: $BIN"
echo "$BIN"
