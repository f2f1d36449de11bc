#!/usr/bin/env bash
# Install pinned kubectl and helm into <repo>/.tools/bin, built from Go
# modules fetched through the Go module proxy (no other downloads):
#   kubectl: k8s.io/kubernetes/cmd/kubectl at the same k8s.io/kubernetes
#            version as the test control plane (a `tool` of
#            e2e/controlplane/go.mod, so its go.sum pins every dependency)
#   helm:    helm.sh/helm/v3/cmd/helm@$HELM_VERSION (pinned by helm's own go.sum)
# Built binaries are cached under ${ZEN_CACHE_DIR:-$HOME/.cache/zen-watcher}/tools/<name>-<version>/,
# so a second run only copies them.
set -euo pipefail

HELM_VERSION="v3.22.0"

export GOTOOLCHAIN=local

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$REPO_ROOT/e2e/controlplane"
CACHE_ROOT="${ZEN_CACHE_DIR:-$HOME/.cache/zen-watcher}/tools"
BIN_DIR="$REPO_ROOT/.tools/bin"

die() { echo "install-tools: error: $*" >&2; exit 1; }
log() { echo "install-tools: $*" >&2; }

command -v go >/dev/null 2>&1 || die "'go' not found in PATH; Go 1.26.x is required"
GO_VERSION="$(go version)"
case "$GO_VERSION" in
  "go version go1.26 "* | "go version go1.26."*) ;;
  *) die "Go 1.26.x is required, found: $GO_VERSION" ;;
esac
GO_V="$(go env GOVERSION)"

K8S_VERSION="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v1\./ { print $2; exit }' "$SRC/go.mod")"
[ -n "$K8S_VERSION" ] || die "cannot find the k8s.io/kubernetes version in $SRC/go.mod"
K8S_MAJOR="$(echo "$K8S_VERSION" | sed -E 's/^v([0-9]+)\..*/\1/')"
K8S_MINOR="$(echo "$K8S_VERSION" | sed -E 's/^v[0-9]+\.([0-9]+)\..*/\1/')"

check_proxy() { # $1 = module@version; fail fast when the proxy is unreachable
  if ! timeout 60 go list -m -json "$1" >/dev/null; then
    die "cannot reach the Go module proxy to fetch $1 (GOPROXY=$(go env GOPROXY))"
  fi
}

mkdir -p "$BIN_DIR"

# ---- kubectl ----
KUBECTL_DIR="$CACHE_ROOT/kubectl-$K8S_VERSION-$GO_V"
if [ ! -x "$KUBECTL_DIR/kubectl" ]; then
  if ! (cd "$SRC" && GOPROXY=off GOFLAGS=-mod=readonly go list -deps k8s.io/kubernetes/cmd/kubectl >/dev/null 2>&1); then
    check_proxy "k8s.io/kubernetes@$K8S_VERSION"
  fi
  LDFLAGS="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$K8S_MAJOR -X $pkg.gitMinor=$K8S_MINOR -X $pkg.gitTreeState=clean -X $pkg.gitCommit="
  done
  log "building kubectl $K8S_VERSION (a cold build takes a few minutes)"
  mkdir -p "$KUBECTL_DIR"
  tmp="$(mktemp "$KUBECTL_DIR/.kubectl.XXXXXX")"
  (cd "$SRC" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags "$LDFLAGS" -o "$tmp" k8s.io/kubernetes/cmd/kubectl) \
    || { rm -f "$tmp"; die "building kubectl failed"; }
  chmod 0755 "$tmp" && mv -f "$tmp" "$KUBECTL_DIR/kubectl"
fi

# ---- helm ----
HELM_DIR="$CACHE_ROOT/helm-$HELM_VERSION-$GO_V"
if [ ! -x "$HELM_DIR/helm" ]; then
  check_proxy "helm.sh/helm/v3@$HELM_VERSION"
  log "building helm $HELM_VERSION (a cold build takes a few minutes)"
  mkdir -p "$HELM_DIR"
  gobin="$(mktemp -d "$HELM_DIR/.gobin.XXXXXX")"
  (cd "$HELM_DIR" && GOBIN="$gobin" CGO_ENABLED=0 GOFLAGS= go install -trimpath \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
      "helm.sh/helm/v3/cmd/helm@$HELM_VERSION") \
    || { rm -rf "$gobin"; die "building helm failed"; }
  mv -f "$gobin/helm" "$HELM_DIR/helm" && rm -rf "$gobin"
fi

install -m 0755 "$KUBECTL_DIR/kubectl" "$BIN_DIR/kubectl"
install -m 0755 "$HELM_DIR/helm" "$BIN_DIR/helm"

echo "kubectl: $("$BIN_DIR/kubectl" version --client 2>/dev/null | head -1)"
echo "helm:    $("$BIN_DIR/helm" version --short 2>/dev/null)"
echo "installed into $BIN_DIR (add it to PATH: export PATH=\"$BIN_DIR:\$PATH\")"
