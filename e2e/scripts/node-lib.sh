# The node of the local cluster (NODE=1): network, containerd, kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy and a loopback image registry. Sourced by
# controlplane-lib.sh when NODE=1, after its paths are set; not executed.
#
# Everything stays on this machine: pods live on a bridge this script creates
# ($node_bridge, $node_ip/24), have no default route and no DNS, and the host does not
# forward their packets anywhere (net.ipv4.ip_forward is left as it is: off here).
# kube-apiserver, the kubelet and the git servers pods use listen on $node_ip.
#
# Environment (a fresh start uses them; a running node is reused as it is):
#   DRIFTLESS_NODE_NAME        node name (default driftless-node)
#   DRIFTLESS_NODE_BRIDGE      bridge for the pod network (default driftless0)
#   DRIFTLESS_NODE_IP          the node's address, on the bridge (default 10.244.0.1)
#   DRIFTLESS_POD_CIDR         pod network, a /24 holding the node's address (default 10.244.0.0/24)
#   DRIFTLESS_SERVICE_CIDR     Service ClusterIPs (default 10.96.0.0/16)
#   DRIFTLESS_REGISTRY_PORT    the loopback registry's port on 127.0.0.1 (default 5000)
# shellcheck shell=bash

node_name="${DRIFTLESS_NODE_NAME:-driftless-node}"
node_bridge="${DRIFTLESS_NODE_BRIDGE:-driftless0}"
node_ip="${DRIFTLESS_NODE_IP:-10.244.0.1}"
pod_cidr="${DRIFTLESS_POD_CIDR:-10.244.0.0/24}"
service_cidr="${DRIFTLESS_SERVICE_CIDR:-10.96.0.0/16}"
registry_port="${DRIFTLESS_REGISTRY_PORT:-5000}"
cni_network=driftless-pods
cni_bin_dir=/usr/lib/cni
containerd_dir="$state_dir/containerd"
containerd_sock="$containerd_dir/containerd.sock"
# The pod sandbox image: built here (image/build-pause.sh), imported under this name.
pause_image="registry.k8s.io/pause:3.6"
pause_archive="$dev_dir/image/pause.oci.tar"
# Node processes in start order (kube-apiserver and etcd come first, from cluster-up.sh).
# containerd and docker-registry are Debian's; the others are built into $bin_dir.
node_components=(registry containerd kube-controller-manager kube-scheduler kubelet kube-proxy)
# Kernel settings the kubelet changes at start (setupKernelTunables); restored on teardown.
kubelet_sysctls=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops
  kernel/keys/root_maxkeys kernel/keys/root_maxbytes)

# The first address of a CIDR plus $2 (IPv4 only): node_cidr_address 10.96.0.0/16 1 -> 10.96.0.1.
node_cidr_address() {
  local base="${1%/*}" add="$2" a b c d
  IFS=. read -r a b c d <<<"$base"
  local n=$(((a << 24) + (b << 16) + (c << 8) + d + add))
  echo "$(((n >> 24) & 255)).$(((n >> 16) & 255)).$(((n >> 8) & 255)).$((n & 255))"
}
kubernetes_service_ip="$(node_cidr_address "$service_cidr" 1)"

node_fail() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

# Path of the executable a node component runs.
node_binary() {
  case "$1" in
  containerd) command -v containerd || echo /usr/bin/containerd ;;
  registry) command -v docker-registry || echo /usr/bin/docker-registry ;;
  *) echo "$bin_dir/$1" ;;
  esac
}

# The bridge's fixed MAC: locally administered, from the node's address (0a:58 and the
# four bytes of $node_ip, as the CNI bridge plugin picks for bridges it creates itself).
node_bridge_mac() {
  local a b c d
  IFS=. read -r a b c d <<<"$node_ip"
  printf '0a:58:%02x:%02x:%02x:%02x\n' "$a" "$b" "$c" "$d"
}

# Fails unless `ip route get $1` leaves through loopback or the node's bridge: the
# check made before sending anything to a non-loopback address.
node_assert_local_route() {
  local route
  route="$(ip -o route get "$1" 2>&1)" || node_fail "no route to $1: $route"
  if [[ ! "$route" =~ \ dev\ (lo|$node_bridge)\  ]]; then
    node_fail "refusing to use $1: it routes off this machine ($route)"
  fi
}

# Tools and binaries a node needs, with the command that provides each.
node_check_prerequisites() {
  local tool
  for tool in containerd runc ctr iptables ip6tables conntrack ip jq docker-registry; do
    command -v "$tool" >/dev/null 2>&1 || node_fail "'$tool' is missing; run NODE=1 e2e/scripts/install-deps.sh"
  done
  for tool in bridge host-local loopback portmap; do
    [[ -x "$cni_bin_dir/$tool" ]] || node_fail "CNI plugin $cni_bin_dir/$tool is missing; run NODE=1 e2e/scripts/install-deps.sh"
  done
  for tool in kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
    [[ -x "$bin_dir/$tool" ]] || node_fail "$bin_dir/$tool is missing; run NODE=1 e2e/scripts/build-controlplane.sh"
  done
  [[ "$(id -u)" == 0 ]] || node_fail "a node needs root (containerd, kubelet, iptables, a bridge)"
  [[ "$pod_cidr" == */24 && "$(node_cidr_address "$pod_cidr" 1)" == "$node_ip" ]] ||
    node_fail "DRIFTLESS_POD_CIDR=$pod_cidr must be a /24 whose first address is DRIFTLESS_NODE_IP=$node_ip"
}

# The bridge pods attach to, holding the node's address, and a route sending the
# Service range to it (so that an unprogrammed ClusterIP never leaves through the
# uplink). One node per machine: a bridge of another checkout is an error.
node_network_up() {
  local owner_file="/run/driftless-node.owner"
  if [[ -f "$owner_file" && "$(cat "$owner_file")" != "$state_dir" ]] && ip link show "$node_bridge" >/dev/null 2>&1; then
    node_fail "bridge $node_bridge belongs to the node of $(cat "$owner_file"); stop it there first (NODE=1 make cluster-down)"
  fi
  echo "$state_dir" >"$owner_file"
  if ! ip link show "$node_bridge" >/dev/null 2>&1; then
    ip link add "$node_bridge" address "$(node_bridge_mac)" type bridge
  fi
  # A bridge whose MAC was never set takes the lowest MAC of its ports, and changes it
  # whenever a pod's veth with a lower one comes (a rollout's new pod) or the one it took
  # goes (a killed pod): the host's and the pods' ARP entries for the gateway then name a
  # MAC the bridge may no longer answer for, and traffic between the host and every pod
  # (NodePorts, probes, the API server) can stall until they are re-resolved. A set MAC
  # stays (addr_assign_type 3); set it on a reused bridge too.
  ip link set dev "$node_bridge" address "$(node_bridge_mac)"
  ip addr replace "$node_ip/24" dev "$node_bridge"
  ip link set "$node_bridge" up
  ip route replace "$service_cidr" dev "$node_bridge" src "$node_ip"
  node_assert_local_route "$node_ip"
  node_assert_local_route "$kubernetes_service_ip"
  node_assert_local_route "$(node_cidr_address "$pod_cidr" 2)"
}

# Client certificates and kubeconfigs of the node components, the kubelet's serving
# certificate; uses sign_cert and $pki from cluster-up.sh.
node_write_credentials() {
  sign_cert node "/O=system:nodes/CN=system:node:${node_name}" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  sign_cert kubelet-serving "/CN=${node_name}" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:${node_ip},DNS:${node_name}"
  sign_cert kube-proxy "/CN=system:kube-proxy" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  sign_cert kube-scheduler "/CN=system:kube-scheduler" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  sign_cert kube-controller-manager "/CN=system:kube-controller-manager" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  local user
  for user in node kube-proxy kube-scheduler kube-controller-manager; do
    node_kubeconfig "$user" >"$state_dir/$user.kubeconfig"
    chmod 600 "$state_dir/$user.kubeconfig"
  done
}

# A kubeconfig for the client certificate $pki/$1.crt.
node_kubeconfig() {
  cat <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: driftless-node
  cluster:
    server: https://${APISERVER_HOST}:${APISERVER_PORT}
    certificate-authority: $pki/ca.crt
users:
- name: $1
  user:
    client-certificate: $pki/$1.crt
    client-key: $pki/$1.key
contexts:
- name: driftless-node
  context:
    cluster: driftless-node
    user: $1
current-context: driftless-node
KUBECONFIG
}

node_write_configs() {
  mkdir -p "$containerd_dir/certs.d/127.0.0.1:${registry_port}" "$state_dir/cni/net.d" \
    "$state_dir/cni/ipam" "$state_dir/kubelet" "$state_dir/pod-logs" "$dev_dir/node-registry"

  cat >"$state_dir/registry.yaml" <<REGISTRY
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dev_dir/node-registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${registry_port}
REGISTRY

  # containerd 1.6: own root, state and socket; the CRI plugin with the local pause
  # image, CNI from Debian's plugins, and the loopback registry over plain HTTP.
  # restrict_oom_score_adj: this VM refuses to lower oom_score_adj (real-node.md).
  cat >"$containerd_dir/config.toml" <<CONTAINERD
version = 2
root = "$containerd_dir/root"
state = "$containerd_dir/state"
[grpc]
  address = "$containerd_sock"
[ttrpc]
  address = "$containerd_sock.ttrpc"
[debug]
  level = "warn"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$cni_bin_dir"
    conf_dir = "$state_dir/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$containerd_dir/certs.d"
CONTAINERD
  cat >"$containerd_dir/certs.d/127.0.0.1:${registry_port}/hosts.toml" <<HOSTS
server = "http://127.0.0.1:${registry_port}"
[host."http://127.0.0.1:${registry_port}"]
  capabilities = ["pull", "resolve"]
HOSTS

  # The pod network: the bridge above, addresses from the pod /24, and routes only
  # to the pod range (on link) and the Service range (via the node): no default route.
  cat >"$state_dir/cni/net.d/10-driftless.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "$cni_network",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$node_bridge",
      "isGateway": true,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$state_dir/cni/ipam",
        "ranges": [[{ "subnet": "$pod_cidr", "gateway": "$node_ip" }]],
        "routes": [{ "dst": "$service_cidr" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
CNI

  cat >"$state_dir/kubelet/config.yaml" <<KUBELET
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This VM has cgroup v1 (hybrid); kubelet >= 1.35 refuses it unless told (real-node.md).
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$containerd_sock
address: $node_ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $pki/ca.crt
authorization:
  mode: Webhook
# No DNS in pods: nothing resolves names off this machine.
resolvConf: ""
clusterDomain: cluster.local
podLogsDir: $state_dir/pod-logs
# Root here cannot lower oom_score_adj (no CAP_SYS_RESOURCE).
oomScoreAdj: 0
serializeImagePulls: false
maxPods: 50
# The disk is shared with builds and sometimes nearly full: no disk eviction (0%
# disables a signal; under DiskPressure the kubelet also deletes unused images) and no
# image garbage collection (100 disables it): the pause image was imported, not pulled,
# and cannot come back by itself. cluster-up re-imports it if it went missing anyway.
evictionHard:
  memory.available: 100Mi
  nodefs.available: "0%"
  nodefs.inodesFree: "0%"
  imagefs.available: "0%"
  imagefs.inodesFree: "0%"
imageGCHighThresholdPercent: 100
KUBELET

  cat >"$state_dir/kube-proxy.yaml" <<PROXY
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: $state_dir/kube-proxy.kubeconfig
hostnameOverride: $node_name
clusterCIDR: $pod_cidr
# NodePorts answer on the node's address only, not on the uplink or on 127.0.0.1.
nodePortAddresses: ["$node_ip/32"]
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
iptables:
  localhostNodePorts: false
# Leave the machine's conntrack limits and timeouts as they are.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
PROXY
}

# start_node_process NAME ARGS...: like start_detached, with the binary node_binary names.
start_node_process() {
  local name="$1" binary
  shift
  binary="$(node_binary "$name")"
  setsid "$binary" "$@" </dev/null >"$state_dir/$name.log" 2>&1 9>&- &
  local pid=$! deadline=$((SECONDS + 5))
  echo "$pid" >"$state_dir/$name.pid"
  # Until setsid has exec'd the binary, /proc/<pid>/exe still names setsid (or bash).
  while kill -0 "$pid" 2>/dev/null && ! runs_binary "$pid" "$binary" && ((SECONDS < deadline)); do
    sleep 0.05
  done
}

# wait_node NAME TIMEOUT COMMAND...: polls COMMAND; fails with NAME's log when the
# process exits or the deadline passes (and tears the cluster down).
wait_node() {
  local name="$1" timeout="$2" deadline pid
  shift 2
  deadline=$((SECONDS + timeout))
  pid="$(cat "$state_dir/$name.pid")"
  until "$@" >/dev/null 2>&1; do
    if ! runs_binary "$pid" "$(node_binary "$name")"; then
      echo "$(basename "$0"): $name exited during start; last lines of $state_dir/$name.log:" >&2
      grep -v 'FLAG:' "$state_dir/$name.log" | tail -n 30 >&2
      stop_recorded_plane
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "$(basename "$0"): $name not ready after ${timeout}s; last lines of $state_dir/$name.log:" >&2
      grep -v 'FLAG:' "$state_dir/$name.log" | tail -n 30 >&2
      stop_recorded_plane
      exit 1
    fi
    sleep 0.2
  done
}

node_ctr() {
  ctr --address "$containerd_sock" --namespace k8s.io "$@"
}

node_kubectl() {
  "$bin_dir/kubectl" --kubeconfig "$kubeconfig" "$@"
}

node_is_ready() {
  [[ "$(node_kubectl get node "$node_name" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

# True when containerd (namespace k8s.io) has an image named $1.
node_has_image() {
  local images
  images="$(node_ctr images ls -q 2>/dev/null)" || return 1
  grep -qxF "$1" <<<"$images"
}

# Imports the locally built pause image into containerd unless it is there.
node_import_pause_image() {
  # The list is read whole before grep: under pipefail, `ctr … | grep -q` fails when grep
  # exits at the first match and ctr, still writing the next name, dies of SIGPIPE (seen
  # here: "did not import as registry.k8s.io/pause:3.6" right after a good import).
  node_has_image "$pause_image" && return 0
  if [[ ! -f "$pause_archive" ]]; then
    "$repo_root/image/build-pause.sh" "$pause_archive" >/dev/null
  fi
  node_ctr images import --no-unpack "$pause_archive" >/dev/null ||
    node_fail "ctr images import $pause_archive failed"
  node_has_image "$pause_image" ||
    node_fail "$pause_archive did not import as $pause_image (ctr -n k8s.io images ls)"
}

# Starts every node component after kube-apiserver answers; waits for the node Ready.
node_up() {
  local timeout="$1" name sysctl
  node_write_credentials
  node_write_configs

  start_node_process registry serve "$state_dir/registry.yaml"
  wait_node registry "$timeout" curl --noproxy "*" -fsS --max-time 2 "http://127.0.0.1:${registry_port}/v2/"

  # A dead proxy on loopback for every registry but the ones on this machine (loopback and
  # the node's own bridge address, where tests serve registries pods can scan too): an image
  # that is not there fails to pull, without a DNS lookup or a packet leaving.
  HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY="127.0.0.1,localhost,$node_ip" \
    http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 no_proxy="127.0.0.1,localhost,$node_ip" \
    start_node_process containerd --config "$containerd_dir/config.toml"
  wait_node containerd "$timeout" ctr --address "$containerd_sock" version
  node_import_pause_image

  start_node_process kube-controller-manager \
    --kubeconfig="$state_dir/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig="$state_dir/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig="$state_dir/kube-controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=0 \
    --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file="$pki/service-account.key" \
    --root-ca-file="$pki/ca.crt" \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --allocate-node-cidrs=false \
    --v=1
  start_node_process kube-scheduler \
    --kubeconfig="$state_dir/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig="$state_dir/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig="$state_dir/kube-scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=0 \
    --leader-elect=false \
    --v=1

  for sysctl in "${kubelet_sysctls[@]}"; do
    echo "$sysctl $(cat "/proc/sys/$sysctl")"
  done >"$state_dir/sysctls.saved"
  start_node_process kubelet \
    --config="$state_dir/kubelet/config.yaml" \
    --kubeconfig="$state_dir/node.kubeconfig" \
    --root-dir="$state_dir/kubelet/root" \
    --hostname-override="$node_name" \
    --node-ip="$node_ip" \
    --v=1
  start_node_process kube-proxy --config="$state_dir/kube-proxy.yaml" --v=1

  for name in kube-controller-manager kube-scheduler kube-proxy; do
    runs_binary "$(cat "$state_dir/$name.pid")" "$bin_dir/$name" || {
      echo "$(basename "$0"): $name exited during start; last lines of $state_dir/$name.log:" >&2
      grep -v 'FLAG:' "$state_dir/$name.log" | tail -n 30 >&2
      stop_recorded_plane
      exit 1
    }
  done
  wait_node kubelet "$timeout" node_is_ready
}

# True when every node process recorded in $state_dir still runs and the node is Ready.
node_is_healthy() {
  local name
  for name in "${node_components[@]}"; do
    [[ -f "$state_dir/$name.pid" ]] || return 1
    runs_binary "$(cat "$state_dir/$name.pid")" "$(node_binary "$name")" || return 1
  done
  for name in kube-controller-manager kube-scheduler kubelet kube-proxy; do
    [[ "$bin_dir/$name" -nt "$state_file" ]] && return 1
  done
  node_is_ready
}

# --- teardown -------------------------------------------------------------------

# Kills every container of this node's containerd, then containerd and its shims.
# Records the pod network namespaces first (their bind mounts outlive the pods).
node_stop_containers() {
  local pid_file="$state_dir/containerd.pid" containerd_pid="" id netns_list="$state_dir/netns.list"
  [[ -f "$pid_file" ]] && containerd_pid="$(cat "$pid_file")"
  if runs_binary "$containerd_pid" "$(node_binary containerd)" && [[ -S "$containerd_sock" ]]; then
    for id in $(node_ctr containers ls -q 2>/dev/null); do
      echo "$id" >>"$state_dir/containers.list"
      node_ctr containers info "$id" 2>/dev/null | grep -o '/var/run/netns/cni-[0-9a-f-]*' >>"$netns_list" || true
    done
    for id in $(node_ctr tasks ls -q 2>/dev/null); do
      node_ctr tasks kill --signal SIGKILL "$id" >/dev/null 2>&1 || true
    done
    for id in $(node_ctr tasks ls -q 2>/dev/null); do
      timeout 10 ctr --address "$containerd_sock" --namespace k8s.io tasks delete --force "$id" >/dev/null 2>&1 || true
    done
    for id in $(node_ctr containers ls -q 2>/dev/null); do
      node_ctr containers delete "$id" >/dev/null 2>&1 || true
    done
  fi
  stop_process "$containerd_pid" "$(node_binary containerd)"
  # Shims of this containerd (started with -address <our socket>) and what they run.
  local proc cmdline
  for proc in /proc/[0-9]*; do
    cmdline="$({ tr '\0' ' ' <"$proc/cmdline"; } 2>/dev/null)" || continue
    if [[ "$cmdline" == *containerd-shim*" -address $containerd_sock "* ]]; then
      kill -KILL "${proc#/proc/}" 2>/dev/null || true
    fi
  done
  # Anything left in the kubelet's pod cgroups.
  local procs
  if [[ -d /sys/fs/cgroup/pids/kubepods ]]; then
    find /sys/fs/cgroup/pids/kubepods -name cgroup.procs | while read -r procs; do
      while read -r proc; do kill -KILL "$proc" 2>/dev/null || true; done <"$procs"
    done
  fi
}

node_remove_netns() {
  local netns_list="$state_dir/netns.list" netns
  [[ -f "$netns_list" ]] || return 0
  sort -u "$netns_list" | while read -r netns; do
    [[ "$netns" =~ ^/var/run/netns/cni-[0-9a-f-]+$ ]] || continue
    umount "$netns" 2>/dev/null || umount -l "$netns" 2>/dev/null || true
    rm -f "$netns"
  done
}

# Unmounts everything under $state_dir, deepest first; fails if a mount stays.
node_unmount_all() {
  local mounts
  # shellcheck disable=SC2016
  mounts="$(awk -v dir="$state_dir/" 'index($5, dir) == 1 { print $5 }' /proc/self/mountinfo | sort -r)"
  local mount_point
  while read -r mount_point; do
    [[ -n "$mount_point" ]] || continue
    umount "$mount_point" 2>/dev/null || umount -l "$mount_point" 2>/dev/null || true
  done <<<"$mounts"
  if awk -v dir="$state_dir/" 'index($5, dir) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
    node_fail "mounts under $state_dir remain; not removing it (see /proc/self/mountinfo)"
  fi
}

# Removes the iptables chains of kube-proxy (its own --cleanup), the kubelet's canary
# chains and the CNI portmap chains, in IPv4 and IPv6.
node_cleanup_iptables() {
  if [[ -x "$bin_dir/kube-proxy" ]]; then
    "$bin_dir/kube-proxy" --cleanup >/dev/null 2>&1 || true
  fi
  local tool table rule chain
  for tool in iptables ip6tables; do
    command -v "$tool" >/dev/null 2>&1 || continue
    for table in filter nat mangle; do
      # Rules (in any chain) jumping to ours, then our chains: flushed, then deleted.
      local rules chains
      rules="$("$tool" -w -t "$table" -S 2>/dev/null | grep -E -- '^-A .* -j (KUBE-|CNI-HOSTPORT-|CNI-DN-)' || true)"
      while read -r rule; do
        [[ -n "$rule" ]] || continue
        # The rule as iptables printed it (quoted comments included), -A turned into -D.
        eval "$tool -w -t $table -D ${rule#-A }" 2>/dev/null || true
      done <<<"$rules"
      chains="$("$tool" -w -t "$table" -S 2>/dev/null |
        sed -n 's/^-N \(KUBE-[A-Za-z0-9-]*\|CNI-HOSTPORT-[A-Z0-9-]*\|CNI-DN-[a-f0-9-]*\)$/\1/p' || true)"
      for chain in $chains; do
        "$tool" -w -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $chains; do
        "$tool" -w -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

node_remove_cgroups() {
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/; do
    [[ -d "${hierarchy}kubepods" ]] || continue
    find "${hierarchy}kubepods" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

# Keeps the logs of the last node run in .dev/node-logs (the state directory goes).
node_keep_logs() {
  [[ -d "$state_dir" ]] || return 0
  rm -rf "$dev_dir/node-logs"
  mkdir -p "$dev_dir/node-logs"
  cp "$state_dir"/*.log "$dev_dir/node-logs/" 2>/dev/null || true
}

# Stops the node processes and removes what they left on the machine. Idempotent,
# also after a killed run; kube-apiserver and etcd are stopped by the caller.
node_down() {
  local name sysctl value id
  # Nothing to do where no node ran (a fresh machine, a second cluster-down).
  if [[ ! -d "$state_dir" ]] && ! ip link show "$node_bridge" >/dev/null 2>&1; then
    return 0
  fi
  # The bridge, kube-proxy's rules and the cgroups belong to the node of another checkout
  # (every checkout's `make cluster-down` runs this): leave them alone. Seen here: another
  # checkout's cluster-down deleted the bridge under a running node, and 10.244.0.1 then
  # routed off the machine.
  local owner_file="/run/driftless-node.owner"
  if [[ -f "$owner_file" && "$(cat "$owner_file")" != "$state_dir" ]]; then
    echo "$(basename "$0"): the node on $node_bridge belongs to $(cat "$owner_file"); not touching it" >&2
    return 0
  fi
  for name in kube-proxy kubelet kube-scheduler kube-controller-manager; do
    [[ -f "$state_dir/$name.pid" ]] && stop_process "$(cat "$state_dir/$name.pid")" "$bin_dir/$name"
  done
  # The git daemon scripts/run-node.sh serves the walkthrough's repository with.
  local pid
  if [[ -f "$state_dir/git-daemon.pid" ]]; then
    pid="$(cat "$state_dir/git-daemon.pid")"
    if [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--base-path=$state_dir/git "; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  fi
  node_stop_containers
  node_keep_logs
  [[ -f "$state_dir/registry.pid" ]] && stop_process "$(cat "$state_dir/registry.pid")" "$(node_binary registry)"
  node_remove_netns
  node_unmount_all
  node_cleanup_iptables
  node_remove_cgroups
  if ip link show "$node_bridge" >/dev/null 2>&1; then
    for name in $(ip -o link show master "$node_bridge" 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1); do
      ip link del "$name" 2>/dev/null || true
    done
    ip link del "$node_bridge"
  fi
  # libcni's result cache (a fixed path): our network's, and containerd's loopback
  # results for our sandboxes.
  rm -f /var/lib/cni/results/"$cni_network"-* 2>/dev/null || true
  if [[ -f "$state_dir/containers.list" ]]; then
    while read -r id; do
      if [[ "$id" =~ ^[0-9a-f]{64}$ ]]; then rm -f /var/lib/cni/results/cni-loopback-"$id"-lo; fi
    done <"$state_dir/containers.list"
  fi
  # The kubelet links container logs into /var/log/containers (a fixed path).
  local link
  for link in /var/log/containers/*.log; do
    [[ -L "$link" && "$(readlink "$link")" == "$state_dir/"* ]] && rm -f "$link"
  done
  if [[ -f "$state_dir/sysctls.saved" ]]; then
    while read -r sysctl value; do
      echo "$value" >"/proc/sys/$sysctl" 2>/dev/null || true
    done <"$state_dir/sysctls.saved"
  fi
  if [[ -f /run/driftless-node.owner && "$(cat /run/driftless-node.owner)" == "$state_dir" ]]; then
    rm -f /run/driftless-node.owner
  fi
}
