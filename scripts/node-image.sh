#!/usr/bin/env bash
# The project's container image, from the Dockerfile's recipe without a daemon or a registry:
# the release binary (`cargo build --release`, as the Dockerfile's build stage runs it) over a
# base that reproduces the Dockerfile's final FROM (gcr.io/distroless/cc-debian12:nonroot) from
# Debian 12's packages (e2e/node/distroless-cc-debian12.json). The final stage's instructions
# (COPY, USER, ENTRYPOINT, EXPOSE, LABEL...) are read from the Dockerfile itself by
# scripts/lib/oci_image.py, which refuses any it does not implement.
#
#   scripts/node-image.sh [TAG]    # default TAG: dev. Prints the image tarball as the last line.
#
# Environment: NODE_IMPORT=1 imports it into the running node (scripts/node-up.sh) as
# ghcr.io/kube-zen/zen-watcher:TAG; IMAGE_BINARY=path uses that binary instead of building one.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=lib/node.sh
. scripts/lib/node.sh
TAG="${1:-dev}"
REF="ghcr.io/kube-zen/zen-watcher:$TAG"
CACHE="${ZEN_CACHE_DIR:-$HOME/.cache/zen-watcher}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/cargo-target}"
RECIPE=e2e/node/distroless-cc-debian12.json
die() { echo "node-image: error: $*" >&2; exit 1; }
log() { echo "node-image: $*" >&2; }

if [ -n "${IMAGE_BINARY:-}" ]; then
  binary=$IMAGE_BINARY
else
  cargo build --release --locked -p zen-watcher --bin zen-watcher >&2
  binary=$CARGO_TARGET_DIR/release/zen-watcher
fi
[ -x "$binary" ] || die "no binary at $binary"

# --- the base, cached by its package list and the versions apt would take ---
mapfile -t packages < <(python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["packages"]))' "$RECIPE")
versions() { apt-cache policy "${packages[@]}" 2>/dev/null | awk '/^[^ ]/ { p = $1 } /Candidate:/ { print p, $2 }'; }
if [ "$(versions | grep -vc '(none)' || true)" -ne "${#packages[@]}" ]; then
  log "apt's package lists do not know all of ${packages[*]}; running apt-get update"
  apt-get update -qq >&2 || die "apt-get update failed"
fi
base_hash=$( { cat "$RECIPE"; versions; sed -n '/^# --- base recipe ---$/,/^# --- end of base recipe ---$/p' "$0"; } | sha256sum | cut -c1-16)
BASE="$CACHE/image-base/$base_hash"
if [ ! -f "$BASE/.complete" ]; then
  # --- base recipe ---
  log "building the base layer from Debian packages: ${packages[*]}"
  rm -rf "$BASE" && mkdir -p "$BASE/debs" "$BASE/rootfs"
  (cd "$BASE/debs" && apt-get download -qq "${packages[@]}" >&2) || die "apt-get download failed"
  for deb in "$BASE"/debs/*.deb; do dpkg-deb -x "$deb" "$BASE/rootfs"; done
  root=$BASE/rootfs
  rm -rf "$root"/usr/share/{man,info,lintian,locale,bug} "$root"/usr/share/doc/*/{changelog*,NEWS*,README*}
  install -d -m 0755 "$root/etc/ssl/certs"
  find "$root/usr/share/ca-certificates" -name '*.crt' -print0 | sort -z | xargs -0 cat >"$root/etc/ssl/certs/ca-certificates.crt"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'tty:x:5:' 'staff:x:50:' 'nonroot:x:65532:' >"$root/etc/group"
  printf '%s\n' 'hosts: files dns' 'networks: files' >"$root/etc/nsswitch.conf"
  install -d -m 0700 "$root/root"
  install -d -m 0700 -o 65532 -g 65532 "$root/home/nonroot"
  install -d -m 1777 "$root/tmp"
  chmod 0755 "$root"
  # --- end of base recipe ---
  touch "$BASE/.complete"
fi

mkdir -p "$CACHE/images"
out="$CACHE/images/zen-watcher-$TAG.tar"
digest=$(python3 scripts/lib/oci_image.py dockerfile --dockerfile Dockerfile --base-dir "$BASE/rootfs" \
  --base-config "$RECIPE" --stage-file "/out/zen-watcher=$binary" --ref "$REF" --out "$out")
log "wrote $REF ($digest, $(( $(stat -c %s "$out") / 1048576 )) MiB) to $out"

if [ "${NODE_IMPORT:-0}" = 1 ]; then
  bin_dir="$(scripts/build-node.sh | tail -n 1)"
  "$bin_dir/ctr" --address "$NODE_CONTAINERD_SOCK" -n k8s.io images import "$out" >/dev/null \
    || die "ctr images import failed (is the node up? scripts/node-up.sh)"
  log "imported $REF into the node"
fi
echo "$out"
