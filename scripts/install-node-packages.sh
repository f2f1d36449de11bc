#!/usr/bin/env bash
# Debian packages the real node needs (scripts/node-up.sh): runc (containerd's runtime), the
# CNI plugins (bridge, host-local, loopback), iptables and conntrack (kube-proxy), socat (the
# path from pods to the apiserver on 127.0.0.1). Installs only what is missing; needs root.
set -euo pipefail
PACKAGES=(runc containernetworking-plugins iptables conntrack socat)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
[ "$(id -u)" = 0 ] || { echo "install-node-packages: root is needed to install ${missing[*]}" >&2; exit 1; }
command -v apt-get >/dev/null || { echo "install-node-packages: apt-get not found (Debian is expected); install ${missing[*]} by hand" >&2; exit 1; }
echo "install-node-packages: installing ${missing[*]}" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
