#!/usr/bin/env bash
# Build (or reuse a cached build of) the zen-controlplane test binary:
# embedded etcd + kube-apiserver from the published k8s.io/kubernetes module.
#
#   scripts/build-controlplane.sh         # prints the binary path as the last stdout line
#
# The binary is cached at
#   ${ZEN_CACHE_DIR:-$HOME/.cache/zen-watcher}/controlplane/<hash>/zen-controlplane
# where <hash> covers go.mod, go.sum, every *.go file in e2e/controlplane and
# `go version`. A warm cache means no build at all.
set -euo pipefail

export GOTOOLCHAIN=local
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly"

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
REPO_ROOT="$(cd "$(dirname "$SELF")/.." && pwd)"
SRC="$REPO_ROOT/e2e/controlplane"
CACHE_ROOT="${ZEN_CACHE_DIR:-$HOME/.cache/zen-watcher}"

die() { echo "build-controlplane: error: $*" >&2; exit 1; }
log() { echo "build-controlplane: $*" >&2; }

command -v go >/dev/null 2>&1 || die "'go' not found in PATH; Go 1.26.x is required"
GO_VERSION="$(go version)"
case "$GO_VERSION" in
  "go version go1.26 "* | "go version go1.26."*) ;;
  *) die "Go 1.26.x is required (Kubernetes 1.36 is built with it; newer Go breaks /openapi/v2), found: $GO_VERSION" ;;
esac

[ -f "$SRC/go.mod" ] && [ -f "$SRC/go.sum" ] || die "missing $SRC/go.mod or go.sum"

# Versions come from go.mod so there is a single source of truth.
K8S_VERSION="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v1\./ { print $2; exit }' "$SRC/go.mod")"
[ -n "$K8S_VERSION" ] || K8S_VERSION="$(awk '/k8s.io\/kubernetes v1\./ { for (i = 1; i <= NF; i++) if ($i ~ /^v1\./) { print $i; exit } }' "$SRC/go.mod")"
[ -n "$K8S_VERSION" ] || die "cannot find the k8s.io/kubernetes version in $SRC/go.mod"
K8S_MAJOR="$(echo "$K8S_VERSION" | sed -E 's/^v([0-9]+)\..*/\1/')"
K8S_MINOR="$(echo "$K8S_VERSION" | sed -E 's/^v[0-9]+\.([0-9]+)\..*/\1/')"

HASH="$(
  cd "$SRC"
  {
    echo "$GO_VERSION"
    for f in go.mod go.sum $(LC_ALL=C ls ./*.go); do
      echo "== $f"
      cat "$f"
    done
    # the build recipe itself
    sed -n '/^# --- build recipe ---$/,$p' "$SELF"
  } | sha256sum | cut -c1-16
)"
OUT_DIR="$CACHE_ROOT/controlplane/$HASH"
BIN="$OUT_DIR/zen-controlplane"

if [ -x "$BIN" ]; then
  log "cached: $BIN"
  echo "$BIN"
  exit 0
fi

# --- build recipe ---
# Cold build: fail fast when the Go module proxy is unreachable and the module
# cache does not already hold everything.
if ! (cd "$SRC" && GOPROXY=off go list -deps . >/dev/null 2>&1); then
  log "module cache is cold; checking the Go module proxy ($(go env GOPROXY))"
  if ! timeout 60 go list -m -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null; then
    die "cannot reach the Go module proxy to fetch k8s.io/kubernetes@$K8S_VERSION (GOPROXY=$(go env GOPROXY))"
  fi
  log "downloading modules"
  (cd "$SRC" && go list -deps . >/dev/null) || die "downloading modules failed"
fi

# Release timestamp of the module (from the module cache) as the build date.
BUILD_DATE="$(cd "$SRC" && go list -m -json k8s.io/kubernetes | sed -n 's/^[[:space:]]*"Time": "\(.*\)",*$/\1/p' | head -1)"
[ -n "$BUILD_DATE" ] || BUILD_DATE="1970-01-01T00:00:00Z"

LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION"
  LDFLAGS+=" -X $pkg.gitMajor=$K8S_MAJOR"
  LDFLAGS+=" -X $pkg.gitMinor=$K8S_MINOR"
  LDFLAGS+=" -X $pkg.gitTreeState=clean"
  LDFLAGS+=" -X $pkg.gitCommit="  # the module zip carries no commit id
  LDFLAGS+=" -X $pkg.buildDate=$BUILD_DATE"
done

mkdir -p "$OUT_DIR"
TMP_BIN="$(mktemp "$OUT_DIR/.zen-controlplane.XXXXXX")"
trap 'rm -f "$TMP_BIN"' EXIT
log "building zen-controlplane (kube-apiserver $K8S_VERSION) -> $BIN; a cold build takes several minutes"
START=$(date +%s)
(cd "$SRC" && CGO_ENABLED=0 go build -trimpath -ldflags "$LDFLAGS" -o "$TMP_BIN" .) \
  || die "go build failed"
chmod 0755 "$TMP_BIN"
mv -f "$TMP_BIN" "$BIN"
trap - EXIT
log "built in $(( $(date +%s) - START ))s"
echo "$BIN"
