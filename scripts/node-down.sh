#!/usr/bin/env bash
# Stop the real node started by scripts/node-up.sh and leave the host as it was: processes by
# PID (and the pods' processes by cgroup), containerd shims, mounts, network namespaces, the
# bridge, kube-proxy's and the kubelet's iptables chains, the kubepods cgroups, runc's state,
# and the sysctls node-up.sh recorded before it started.
#
#   scripts/node-down.sh [RUN_DIR]     # default RUN_DIR: <repo>/e2e/.node
set -uo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="${1:-$REPO_ROOT/e2e/.node}"
# shellcheck source=lib/node.sh
. "$REPO_ROOT/scripts/lib/node.sh"
log() { echo "node-down: $*" >&2; }
[ "$(id -u)" = 0 ] || { log "root is needed"; exit 1; }
[ -d "$RUN" ] && RUN="$(cd "$RUN" && pwd)"
if [ -f "$NODE_OWNER" ] && [ "$(cat "$NODE_OWNER")" != "$RUN" ]; then
  log "the node on this machine belongs to $(cat "$NODE_OWNER"), not $RUN; not touching it"
  exit 1
fi
START=$(date +%s)

stop_pid() { # name pid
  local name=$1 pid=$2
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  log "$name (pid $pid) ignored SIGTERM for 5 s; SIGKILL"
  kill -KILL "$pid" 2>/dev/null
}

# The kubelet first (so it restarts nothing), then every process in a pod's cgroup and the
# containerd shims, then the rest together with the control plane.
pid_of() { [ -f "$RUN/pids/$1" ] && cat "$RUN/pids/$1"; }
kubelet_pid=$(pid_of kubelet) && stop_pid kubelet "$kubelet_pid"
kill_pods() {
  for pid in $(grep -l ':/kubepods' /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3); do
    kill -KILL "$pid" 2>/dev/null
  done
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $NODE_CONTAINERD_SOCK" 2>/dev/null); do
    kill -KILL "$pid" 2>/dev/null
  done
}
kill_pods
for name in "${NODE_PROCESSES[@]}"; do
  [ "$name" = kubelet ] && continue
  pid=$(pid_of "$name") && stop_pid "$name" "$pid" &
done
"$REPO_ROOT/scripts/cluster-down.sh" "$RUN/cp" 2>/dev/null &
wait
# Shims started by our containerd re-parent to init when it stops.
kill_pods
rm -f "$RUN"/pids/*

# Mounts: the pods' (kubelet volumes, containerd's rootfs and shm), deepest first.
for _ in 1 2 3; do
  awk -v r="$RUN/" 'index($2, r) == 1 || $2 ~ "^/run/containerd/" || $2 ~ "^/run/netns/cni-" || $2 ~ "^/run/zen-watcher-node/" { print $2 }' /proc/mounts \
    | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
done
for ns in /run/netns/cni-*; do [ -e "$ns" ] && { umount "$ns" 2>/dev/null; rm -f "$ns"; }; done
rm -rf /run/containerd/runc/k8s.io /run/containerd/s /run/containerd/io.containerd.* /run/zen-watcher-node
rmdir /run/containerd/runc /run/containerd 2>/dev/null

# The pods' cgroups under every controller (cgroup v1) or the unified tree (v2), leaves first.
for ctl in /sys/fs/cgroup/ /sys/fs/cgroup/*/; do
  [ -d "$ctl/kubepods" ] || [ -d "$ctl/kubepods.slice" ] || continue
  find "$ctl"kubepods* -depth -type d -exec rmdir {} \; 2>/dev/null
done

ip link del "$NODE_BRIDGE" 2>/dev/null
# kube-proxy's own cleanup, then the chains it leaves (KUBE-FIREWALL) and the kubelet's.
bin_dir=$(ls -d "${ZEN_CACHE_DIR:-$HOME/.cache/zen-watcher}"/node/*/ 2>/dev/null | head -n 1)
[ -n "$bin_dir" ] && [ -x "$bin_dir/kube-proxy" ] && "$bin_dir/kube-proxy" --cleanup >/dev/null 2>&1
if command -v iptables >/dev/null; then
  for ipt in iptables ip6tables; do
    for table in filter nat mangle; do
      # Rules that jump to KUBE-* chains first, then the chains.
      "$ipt" -t "$table" -S 2>/dev/null | grep -E '^-A [A-Z]+ .*-j KUBE-' | grep -vE '^-A KUBE-' \
        | sed 's/^-A/-D/' | while read -r rule; do eval "$ipt -t $table $rule" 2>/dev/null; done
      for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ { print $2 }'); do
        "$ipt" -t "$table" -F "$chain" 2>/dev/null
      done
      for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ { print $2 }'); do
        "$ipt" -t "$table" -X "$chain" 2>/dev/null
      done
    done
  done
fi
command -v conntrack >/dev/null && conntrack -D -s "$NODE_POD_CIDR" >/dev/null 2>&1

if [ -f "$RUN/sysctl-before.txt" ]; then
  while IFS='=' read -r key value; do
    [ -n "$key" ] && sysctl -q -w "$key=$value" 2>/dev/null
  done <"$RUN/sysctl-before.txt"
fi
if [ -f "$RUN/host-paths-created" ]; then
  while read -r path; do
    case " ${NODE_HOST_PATHS[*]} " in *" $path "*) rm -rf "$path" ;; esac
  done <"$RUN/host-paths-created"
fi
rm -f "$NODE_OWNER"

# What is left is reported, not hidden.
left=0
if awk -v r="$RUN/" 'index($2, r) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
  log "mounts are still left under $RUN"; left=1
fi
if grep -qs ':/kubepods' /proc/[0-9]*/cgroup; then log "processes are still left in kubepods cgroups"; left=1; fi
if iptables -t nat -S 2>/dev/null | grep -q KUBE- || iptables -t filter -S 2>/dev/null | grep -q KUBE-; then
  log "KUBE-* iptables chains are still left"; left=1
fi
if ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then log "the bridge $NODE_BRIDGE is still there"; left=1; fi
if ls /run/netns/cni-* >/dev/null 2>&1; then log "network namespaces are still left in /run/netns"; left=1; fi
if ls -d /sys/fs/cgroup/kubepods* /sys/fs/cgroup/*/kubepods* >/dev/null 2>&1; then log "kubepods cgroups are still left"; left=1; fi
if [ -f "$RUN/sysctl-before.txt" ]; then
  while IFS='=' read -r key value; do
    now=$(sysctl -n "$key" 2>/dev/null) || continue
    [ "$now" = "$value" ] || { log "sysctl $key is $now, not $value as before"; left=1; }
  done <"$RUN/sysctl-before.txt"
fi
log "stopped in $(( $(date +%s) - START ))s"
exit "$left"
