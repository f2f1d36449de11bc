#!/usr/bin/env bash
# Build (or reuse a cached build of) the real node's components:
#   kubelet, kube-scheduler, kube-controller-manager, kube-proxy  (k8s.io/kubernetes, the
#     release e2e/controlplane's kube-apiserver comes from; pinned by e2e/node/go.mod)
#   containerd, containerd-shim-runc-v2, ctr                      (containerd $CONTAINERD_VERSION
#     from the Go module proxy; kubelet 1.36 ends its support for containerd 1.6 in 1.37)
# runc, the CNI plugins, iptables, conntrack and socat come from Debian (scripts/install-node-packages.sh).
#
#   scripts/build-node.sh        # prints the directory holding the binaries as the last stdout line
#
# Cached at ${ZEN_CACHE_DIR:-$HOME/.cache/zen-watcher}/node/<hash>/ where <hash> covers
# e2e/node/go.mod, go.sum, the containerd version, `go version` and this recipe.
set -euo pipefail
export GOTOOLCHAIN=local
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly"

CONTAINERD_VERSION=v2.4.2

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
REPO_ROOT="$(cd "$(dirname "$SELF")/.." && pwd)"
SRC="$REPO_ROOT/e2e/node"
CACHE_ROOT="${ZEN_CACHE_DIR:-$HOME/.cache/zen-watcher}"
TOOLS=(kubelet kube-scheduler kube-controller-manager kube-proxy)
CONTAINERD_CMDS=(containerd containerd-shim-runc-v2 ctr)

die() { echo "build-node: error: $*" >&2; exit 1; }
log() { echo "build-node: $*" >&2; }

command -v go >/dev/null 2>&1 || die "'go' not found in PATH; Go 1.26.x is required"
GO_VERSION="$(go version)"
case "$GO_VERSION" in
  "go version go1.26 "* | "go version go1.26."*) ;;
  *) die "Go 1.26.x is required (Kubernetes 1.36 is built with it), found: $GO_VERSION" ;;
esac

K8S_VERSION="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v1\./ { print $2; exit }' "$SRC/go.mod")"
[ -n "$K8S_VERSION" ] || K8S_VERSION="$(awk '/k8s.io\/kubernetes v1\./ { for (i = 1; i <= NF; i++) if ($i ~ /^v1\./) { print $i; exit } }' "$SRC/go.mod")"
[ -n "$K8S_VERSION" ] || die "cannot find the k8s.io/kubernetes version in $SRC/go.mod"
cp_version="$(awk '/k8s.io\/kubernetes v1\./ { for (i = 1; i <= NF; i++) if ($i ~ /^v1\./) { print $i; exit } }' "$REPO_ROOT/e2e/controlplane/go.mod")"
[ "$cp_version" = "$K8S_VERSION" ] \
  || die "e2e/node pins k8s.io/kubernetes $K8S_VERSION but e2e/controlplane pins $cp_version: keep them equal"
K8S_MAJOR="$(echo "$K8S_VERSION" | sed -E 's/^v([0-9]+)\..*/\1/')"
K8S_MINOR="$(echo "$K8S_VERSION" | sed -E 's/^v[0-9]+\.([0-9]+)\..*/\1/')"

HASH="$(
  {
    echo "$GO_VERSION $CONTAINERD_VERSION"
    cat "$SRC/go.mod" "$SRC/go.sum"
    sed -n '/^# --- build recipe ---$/,$p' "$SELF"
  } | sha256sum | cut -c1-16
)"
OUT_DIR="$CACHE_ROOT/node/$HASH"

complete=1
for b in "${TOOLS[@]}" "${CONTAINERD_CMDS[@]}"; do [ -x "$OUT_DIR/$b" ] || complete=0; done
if [ "$complete" = 1 ]; then
  log "cached: $OUT_DIR"
  echo "$OUT_DIR"
  exit 0
fi

# --- build recipe ---
mkdir -p "$OUT_DIR"
BUILD_DATE="$(cd "$SRC" && go list -m -json k8s.io/kubernetes | sed -n 's/^[[:space:]]*"Time": "\(.*\)",*$/\1/p' | head -1)"
[ -n "$BUILD_DATE" ] || BUILD_DATE="1970-01-01T00:00:00Z"
LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$K8S_MAJOR -X $pkg.gitMinor=$K8S_MINOR"
  LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit= -X $pkg.buildDate=$BUILD_DATE"
done

START=$(date +%s)
for b in "${TOOLS[@]}"; do
  [ -x "$OUT_DIR/$b" ] && continue
  log "building $b $K8S_VERSION (a cold build takes minutes)"
  (cd "$SRC" && CGO_ENABLED=0 go build -trimpath -ldflags "$LDFLAGS" -o "$OUT_DIR/.$b.tmp" "k8s.io/kubernetes/cmd/$b") \
    || die "go build of $b failed"
  mv -f "$OUT_DIR/.$b.tmp" "$OUT_DIR/$b"
done

# containerd from the Go module proxy, outside any module (go install pkg@version).
missing=()
for b in "${CONTAINERD_CMDS[@]}"; do [ -x "$OUT_DIR/$b" ] || missing+=("github.com/containerd/containerd/v2/cmd/$b@$CONTAINERD_VERSION"); done
if [ "${#missing[@]}" -gt 0 ]; then
  log "building containerd $CONTAINERD_VERSION"
  gobin="$OUT_DIR/.containerd-bin"
  rm -rf "$gobin"
  (cd / && GOFLAGS= GOBIN="$gobin" CGO_ENABLED=0 go install -trimpath \
     -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" "${missing[@]}") \
    || die "go install of containerd $CONTAINERD_VERSION failed"
  mv -f "$gobin"/* "$OUT_DIR/"
  rmdir "$gobin"
fi
log "built in $(( $(date +%s) - START ))s"
echo "$OUT_DIR"
