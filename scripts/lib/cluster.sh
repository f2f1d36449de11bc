# Sourced by the benchmark scripts (bash). Starts the local control plane in DIR with
# scripts/cluster-up.sh, or reuses the one running there, and exports KUBECONFIG (its admin
# kubeconfig). STARTED_CLUSTER=1 when this call started it, so a caller's cleanup stops only
# what it started (scripts/cluster-down.sh DIR).
cluster_up_or_reuse() { # DIR
  local dir=$1 pid_file="$1/controlplane.pid"
  if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    STARTED_CLUSTER=0
  else
    STARTED_CLUSTER=1
  fi
  "$(dirname "${BASH_SOURCE[0]}")/../cluster-up.sh" "$dir" >/dev/null || return 1
  export KUBECONFIG="$dir/kubeconfig"
}
