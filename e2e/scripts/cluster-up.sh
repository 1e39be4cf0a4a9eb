#!/usr/bin/env bash
# Starts (or reuses) a loopback control plane: etcd + kube-apiserver built by
# build-controlplane.sh, with state, pid files and logs under .dev/controlplane.
# Writes the admin kubeconfig to .dev/kubeconfig and prints its path.
#
# Idempotent: a healthy plane is reused; state left by a killed run is cleaned.
# Safe against concurrent callers (flock on .dev/controlplane.lock).
#
# Environment:
#   DRIFTLESS_APISERVER_PORT  secure port for kube-apiserver (default: a free one)
#   DRIFTLESS_ETCD_PORT       client port for etcd (default: a free one)
#   DRIFTLESS_ETCD_PEER_PORT  peer port for etcd (default: a free one)
# (Ports apply to a fresh start; a healthy running plane is reused as it is.)
#   DRIFTLESS_READY_TIMEOUT   seconds to wait for /readyz (default: 120)
#
# NODE=1 starts a separate cluster with a node instead (state in .dev/node,
# kubeconfig .dev/node-kubeconfig): kube-apiserver on the node's bridge address
# (default port 6443), then kube-controller-manager, kube-scheduler, containerd,
# kubelet and kube-proxy (node-lib.sh); it returns once the node is Ready.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/controlplane-lib.sh"

fail() {
  echo "cluster-up.sh: $*" >&2
  exit 1
}

for tool in openssl curl flock; do
  command -v "$tool" >/dev/null 2>&1 || fail "'$tool' is missing; run e2e/scripts/install-deps.sh"
done
for binary in kube-apiserver etcd; do
  [[ -x "$bin_dir/$binary" ]] || fail "$bin_dir/$binary is missing; run e2e/scripts/build-controlplane.sh"
done
if [[ "${NODE:-0}" == 1 ]]; then
  node_check_prerequisites
  : "${DRIFTLESS_APISERVER_PORT:=6443}"
fi

take_lock

# --- reuse a healthy plane -------------------------------------------------
admin_curl() {
  curl --noproxy "*" -fsS --max-time 5 --cacert "$state_dir/pki/ca.crt" \
    --cert "$state_dir/pki/admin.crt" --key "$state_dir/pki/admin.key" "$@"
}

plane_is_healthy() {
  [[ -f "$state_file" && -f "$kubeconfig" ]] || return 1
  local APISERVER_PID="" ETCD_PID="" APISERVER_PORT="" APISERVER_HOST=127.0.0.1
  # shellcheck disable=SC1090
  source "$state_file"
  runs_binary "$ETCD_PID" "$bin_dir/etcd" || return 1
  runs_binary "$APISERVER_PID" "$bin_dir/kube-apiserver" || return 1
  # Rebuilt binaries since the start: restart on the new ones.
  [[ "$bin_dir/kube-apiserver" -nt "$state_file" || "$bin_dir/etcd" -nt "$state_file" ]] && return 1
  [[ "$(admin_curl "https://${APISERVER_HOST}:${APISERVER_PORT}/readyz" 2>/dev/null)" == ok ]] || return 1
  if [[ "${NODE:-0}" == 1 ]]; then
    node_is_healthy || return 1
  fi
}

if plane_is_healthy; then
  if [[ "${NODE:-0}" == 1 ]]; then
    node_import_pause_image
  fi
  echo "$kubeconfig"
  exit 0
fi
if [[ -e "$state_dir" || -e "$kubeconfig" ]]; then
  echo "cluster-up.sh: cleaning stale control plane state in $state_dir" >&2
fi
stop_recorded_plane

# --- ports -------------------------------------------------------------------
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

taken_ports=()
# Prints a free loopback port (outside the kernel's ephemeral range), or the
# one named by the variable $1, failing clearly when that one is taken.
choose_port() {
  local requested="${!1:-}" port attempt
  if [[ -n "$requested" ]]; then
    port_in_use "$requested" && fail "port $requested ($1) is already in use on 127.0.0.1"
    taken_ports+=("$requested")
    echo "$requested"
    return
  fi
  for attempt in $(seq 1 200); do
    port=$((20000 + RANDOM % 12000))
    [[ " ${taken_ports[*]} " == *" $port "* ]] && continue
    port_in_use "$port" && continue
    taken_ports+=("$port")
    echo "$port"
    return
  done
  fail "found no free port on 127.0.0.1 after 200 attempts"
}

# choose_port runs in the current shell (not a subshell) so taken_ports grows.
choose_port DRIFTLESS_ETCD_PORT >"$dev_dir/.port" && ETCD_PORT="$(<"$dev_dir/.port")"
choose_port DRIFTLESS_ETCD_PEER_PORT >"$dev_dir/.port" && ETCD_PEER_PORT="$(<"$dev_dir/.port")"
choose_port DRIFTLESS_APISERVER_PORT >"$dev_dir/.port" && APISERVER_PORT="$(<"$dev_dir/.port")"
rm -f "$dev_dir/.port"

started=$SECONDS
APISERVER_HOST="$apiserver_host"
if [[ "${NODE:-0}" == 1 ]]; then
  node_network_up
fi

# --- certificates ------------------------------------------------------------
pki="$state_dir/pki"
mkdir -p "$pki" "$state_dir/etcd-data"
chmod 700 "$state_dir"

openssl_quiet() {
  local out
  out="$(openssl "$@" 2>&1)" || fail "openssl $1 failed: $out"
}

new_key() {
  openssl_quiet genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
}

# sign_cert NAME SUBJECT EXTENSIONS: key NAME.key, certificate NAME.crt signed by the CA.
sign_cert() {
  local name="$1" subject="$2" extensions="$3"
  new_key "$pki/$name.key"
  openssl_quiet req -new -key "$pki/$name.key" -subj "$subject" -out "$pki/$name.csr"
  printf '%s\n' "$extensions" >"$pki/$name.ext"
  openssl_quiet x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 365 -sha256 -extfile "$pki/$name.ext" -out "$pki/$name.crt"
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}

# With a node, pods reach the server on the node's address and as the kubernetes Service.
apiserver_sans="IP:127.0.0.1,DNS:localhost"
if [[ "${NODE:-0}" == 1 ]]; then
  apiserver_sans+=",IP:${node_ip},IP:${kubernetes_service_ip},DNS:kubernetes,DNS:kubernetes.default"
  apiserver_sans+=",DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
fi
new_key "$pki/ca.key"
openssl_quiet req -x509 -new -key "$pki/ca.key" -subj "/CN=driftless-e2e-ca" -days 365 -sha256 \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$pki/ca.crt"
sign_cert apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=${apiserver_sans}"
sign_cert admin "/O=system:masters/CN=driftless-e2e-admin" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
new_key "$pki/service-account.key"
openssl_quiet pkey -in "$pki/service-account.key" -pubout -out "$pki/service-account.pub"

# --- processes ---------------------------------------------------------------
# start_detached NAME ARGS...: runs NAME in its own session, outliving this
# script (and the test process that called it); pid in NAME.pid, log in NAME.log.
start_detached() {
  local name="$1"
  shift
  setsid "$bin_dir/$name" "$@" </dev/null >"$state_dir/$name.log" 2>&1 9>&- &
  echo $! >"$state_dir/$name.pid"
}

# wait_until NAME DEADLINE COMMAND...: polls COMMAND until it succeeds; fails
# with NAME's log tail when the process exits or the deadline passes.
wait_until() {
  local name="$1" timeout="$2" deadline pid
  shift 2
  deadline=$((SECONDS + timeout))
  pid="$(cat "$state_dir/$name.pid")"
  until "$@" >/dev/null 2>&1; do
    if ! runs_binary "$pid" "$bin_dir/$name"; then
      echo "cluster-up.sh: $name exited during start; last lines of $state_dir/$name.log:" >&2
      tail -n 20 "$state_dir/$name.log" >&2
      stop_recorded_plane
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "cluster-up.sh: $name not ready after ${timeout}s; last lines of $state_dir/$name.log:" >&2
      tail -n 20 "$state_dir/$name.log" >&2
      stop_recorded_plane
      exit 1
    fi
    sleep 0.2
  done
}

ready_timeout="${DRIFTLESS_READY_TIMEOUT:-120}"

start_detached etcd \
  --name=driftless-e2e \
  --data-dir="$state_dir/etcd-data" \
  --listen-client-urls="http://127.0.0.1:${ETCD_PORT}" \
  --advertise-client-urls="http://127.0.0.1:${ETCD_PORT}" \
  --listen-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" \
  --initial-advertise-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" \
  --initial-cluster="driftless-e2e=http://127.0.0.1:${ETCD_PEER_PORT}" \
  --unsafe-no-fsync=true \
  --log-level=warn
wait_until etcd "$ready_timeout" curl --noproxy "*" -fsS --max-time 2 "http://127.0.0.1:${ETCD_PORT}/health"

# Without a node: loopback only, no endpoint reconciler, no ServiceAccount admission
# (nothing would create the tokens). With a node: on the bridge address pods reach,
# the kubernetes Service's endpoint is that address, kubelets authorized as nodes.
if [[ "${NODE:-0}" == 1 ]]; then
  sign_cert kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  plane_flags=(
    --bind-address="$node_ip"
    --advertise-address="$node_ip"
    --authorization-mode=Node,RBAC
    --enable-admission-plugins=NodeRestriction
    --kubelet-client-certificate="$pki/kubelet-client.crt"
    --kubelet-client-key="$pki/kubelet-client.key"
    --kubelet-preferred-address-types=InternalIP
    --service-cluster-ip-range="$service_cidr"
  )
else
  plane_flags=(
    --bind-address=127.0.0.1
    --advertise-address=127.0.0.1
    --endpoint-reconciler-type=none
    --authorization-mode=RBAC
    --service-cluster-ip-range=10.96.0.0/16
    --disable-admission-plugins=ServiceAccount
  )
fi
start_detached kube-apiserver \
  --etcd-servers="http://127.0.0.1:${ETCD_PORT}" \
  "${plane_flags[@]}" \
  --secure-port="${APISERVER_PORT}" \
  --cert-dir="$pki" \
  --tls-cert-file="$pki/apiserver.crt" \
  --tls-private-key-file="$pki/apiserver.key" \
  --client-ca-file="$pki/ca.crt" \
  --service-account-issuer="https://${APISERVER_HOST}:${APISERVER_PORT}" \
  --service-account-key-file="$pki/service-account.pub" \
  --service-account-signing-key-file="$pki/service-account.key" \
  --allow-privileged=true \
  --profiling=false \
  --v=1
wait_until kube-apiserver "$ready_timeout" \
  bash -c '[[ "$(curl --noproxy "*" -fsS --max-time 5 --cacert "$1/ca.crt" --cert "$1/admin.crt" --key "$1/admin.key" "$2")" == ok ]]' \
  _ "$pki" "https://${APISERVER_HOST}:${APISERVER_PORT}/readyz"

# --- kubeconfig and state ----------------------------------------------------
b64() { base64 -w0 <"$1"; }
kubeconfig_tmp="$kubeconfig.tmp"
cat >"$kubeconfig_tmp" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: driftless-e2e
  cluster:
    server: https://${APISERVER_HOST}:${APISERVER_PORT}
    certificate-authority-data: $(b64 "$pki/ca.crt")
users:
- name: driftless-e2e-admin
  user:
    client-certificate-data: $(b64 "$pki/admin.crt")
    client-key-data: $(b64 "$pki/admin.key")
contexts:
- name: driftless-e2e
  context:
    cluster: driftless-e2e
    user: driftless-e2e-admin
current-context: driftless-e2e
KUBECONFIG
chmod 600 "$kubeconfig_tmp"
mv -f "$kubeconfig_tmp" "$kubeconfig"

cat >"$state_file" <<STATE
ETCD_PID=$(cat "$state_dir/etcd.pid")
ETCD_PORT=$ETCD_PORT
APISERVER_PID=$(cat "$state_dir/kube-apiserver.pid")
APISERVER_PORT=$APISERVER_PORT
APISERVER_HOST=$APISERVER_HOST
STATE

if [[ "${NODE:-0}" == 1 ]]; then
  node_up "$ready_timeout"
  echo "cluster-up.sh: node $node_name Ready (InternalIP $node_ip, pods $pod_cidr on $node_bridge, Services $service_cidr, registry 127.0.0.1:$registry_port)" >&2
fi

echo "cluster-up.sh: kube-apiserver ready on https://${APISERVER_HOST}:${APISERVER_PORT} in $((SECONDS - started))s" >&2
echo "$kubeconfig"
