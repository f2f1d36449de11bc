# shellcheck shell=bash
# Names and addresses of the real node (scripts/node-up.sh, node-down.sh, node-image.sh).
NODE_NAME=zen-node
NODE_BRIDGE=zen0
NODE_IP=10.244.0.1
NODE_POD_CIDR=10.244.0.0/24
NODE_SERVICE_CIDR=10.96.0.0/16
NODE_API_PROXY_PORT=6443
NODE_KUBELET_PORT=10250
NODE_KUBELET_HEALTHZ_PORT=10248
NODE_STREAM_PORT=27010
NODE_PROXY_METRICS_PORT=10249
NODE_PROXY_HEALTHZ_PORT=10256
NODE_PAUSE_IMAGE=localhost/zen-node/pause:1
# Host-wide: which run directory owns the machine's one node.
NODE_OWNER=/run/zen-watcher-node.owner
# containerd's socket is kept short (unix socket paths are limited to 108 bytes).
NODE_CONTAINERD_SOCK=/run/zen-watcher-node/containerd.sock
# Host sysctls the kubelet, kube-proxy or this script change; node-down.sh restores them.
NODE_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
  kernel.keys.root_maxbytes net.ipv4.ip_forward net.ipv4.conf.all.route_localnet
  net.bridge.bridge-nf-call-iptables net.netfilter.nf_conntrack_max)
# Host paths outside the run directory a node may create (the kubelet's device-plugin socket
# directory is fixed); node-down.sh removes those that did not exist before node-up.sh.
NODE_HOST_PATHS=(/var/lib/kubelet /opt/containerd /run/nri /run/netns)
# The processes node-up.sh starts, stopped in this order by node-down.sh.
NODE_PROCESSES=(kube-proxy kubelet kube-scheduler kube-controller-manager containerd socat)

# True when any process node-up.sh started from run directory $1 is alive.
node_alive() {
  local run=$1 pidfile pid
  for pidfile in "$run"/pids/*; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile" 2>/dev/null) || continue
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && return 0
  done
  [ -f "$run/cp/controlplane.pid" ] && kill -0 "$(cat "$run/cp/controlplane.pid")" 2>/dev/null
}
