# Shared by cluster-up.sh and cluster-down.sh: paths, the lock, process checks.
# Sourced, not executed.

e2e_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
repo_root="$(cd "$e2e_dir/.." && pwd -P)"
bin_dir="$e2e_dir/bin"
dev_dir="$repo_root/.dev"
state_dir="$dev_dir/controlplane"
state_file="$state_dir/state.env"
kubeconfig="$dev_dir/kubeconfig"
lock_file="$dev_dir/controlplane.lock"
apiserver_host=127.0.0.1

# DRIFTLESS_PLANE=NAME: another node-less plane beside the default one (state in
# .dev/plane-NAME, kubeconfig .dev/plane-NAME-kubeconfig), e.g. the "remote" cluster of
# the spec.kubeConfig tests. NAME is lowercase letters, digits and '-'.
if [[ -n "${DRIFTLESS_PLANE:-}" && "${NODE:-0}" != 1 ]]; then
  if [[ ! "$DRIFTLESS_PLANE" =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]]; then
    echo "$(basename "$0"): DRIFTLESS_PLANE='$DRIFTLESS_PLANE' is not a plane name ([a-z0-9-], at most 31)" >&2
    exit 1
  fi
  state_dir="$dev_dir/plane-$DRIFTLESS_PLANE"
  state_file="$state_dir/state.env"
  kubeconfig="$dev_dir/plane-$DRIFTLESS_PLANE-kubeconfig"
  lock_file="$dev_dir/plane-$DRIFTLESS_PLANE.lock"
fi

# NODE=1: a separate cluster with a node (node-lib.sh), so that the tests written for
# the node-less plane never meet a controller manager or a kubelet.
if [[ "${NODE:-0}" == 1 ]]; then
  state_dir="$dev_dir/node"
  state_file="$state_dir/state.env"
  kubeconfig="$dev_dir/node-kubeconfig"
  lock_file="$dev_dir/node.lock"
  # shellcheck source=node-lib.sh
  source "$(dirname "${BASH_SOURCE[0]}")/node-lib.sh"
  apiserver_host="$node_ip"
fi

# Serializes cluster-up/cluster-down across concurrent callers (test binaries
# run in parallel). The lock is held on fd 9 until the script exits.
take_lock() {
  mkdir -p "$dev_dir"
  exec 9>"$lock_file"
  if ! flock -w "${DRIFTLESS_LOCK_TIMEOUT:-300}" 9; then
    echo "$(basename "$0"): timed out waiting for $lock_file (another cluster-up/down still running?)" >&2
    exit 1
  fi
}

# True when pid $1 is alive and runs the binary $2 (also after a rebuild
# replaced the file, when /proc shows it as "(deleted)"; and when $2 is a symlink,
# e.g. e2e/bin linked to another checkout's binaries: /proc shows the target).
runs_binary() {
  local pid="$1" binary="$2" exe target
  [[ -n "$pid" ]] || return 1
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
  target="$(readlink -f "$binary" 2>/dev/null)" || target="$binary"
  [[ "$exe" == "$binary" || "$exe" == "$binary (deleted)" ||
    "$exe" == "$target" || "$exe" == "$target (deleted)" ]]
}

# Sends TERM to pid $1 if it runs binary $2, waits up to 10s, then KILLs it.
stop_process() {
  local pid="$1" binary="$2" deadline
  runs_binary "$pid" "$binary" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  deadline=$((SECONDS + 10))
  while runs_binary "$pid" "$binary"; do
    if ((SECONDS >= deadline)); then
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
}

# Stops whatever a previous cluster-up recorded in $state_file and removes the state.
stop_recorded_plane() {
  if [[ "${NODE:-0}" == 1 ]]; then
    node_down
  fi
  if [[ -f "$state_file" ]]; then
    local APISERVER_PID="" ETCD_PID=""
    # shellcheck disable=SC1090
    source "$state_file"
    stop_process "$APISERVER_PID" "$bin_dir/kube-apiserver"
    stop_process "$ETCD_PID" "$bin_dir/etcd"
  fi
  # pid files survive even when state.env was never written (killed mid-start).
  local pid_file
  for pid_file in "$state_dir/kube-apiserver.pid" "$state_dir/etcd.pid"; do
    if [[ -f "$pid_file" ]]; then
      stop_process "$(cat "$pid_file")" "$bin_dir/$(basename "$pid_file" .pid)"
    fi
  done
  rm -rf "$state_dir" "$kubeconfig"
}
