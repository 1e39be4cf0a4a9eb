#!/usr/bin/env bash
# `make run NODE=1`: the walkthrough on a real node of this machine, Driftless in-cluster.
#
#  1. installs the Debian packages a node needs (NODE=1 e2e/scripts/install-deps.sh);
#  2. builds kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kubelet,
#     kube-proxy and kubectl (first time: many minutes, with progress; cached afterwards);
#  3. starts (or reuses) the cluster with its node (NODE=1 e2e/scripts/cluster-up.sh):
#     pods on the bridge driftless0 (10.244.0.0/24), node InternalIP 10.244.0.1,
#     a loopback registry on 127.0.0.1:5000 that the node's containerd pulls from;
#  4. builds the Driftless image (image/build-driftless.sh) and the hello-world app images
#     (image/build-hello.sh, tags 1 and 2) and pushes them to that registry;
#  5. installs Driftless with `kubectl apply -k` (config/local-node, the pushed digest
#     pinned) and waits for its rollout (the pod's readiness probe);
#  6. pushes config/samples/hello-world to a git repository served by `git daemon`
#     on the node's address (pods reach it there), applies a GitRepository and a
#     Kustomization (wait: true) for it;
#  7. waits until http://<node InternalIP>:30001 answers "Hello World" and prints the
#     curl command, and how long each step took.
#
# Idempotent: a second run reuses the cluster, the images and the git daemon.
# `make cluster-down` stops everything and cleans up. Needs root (containerd, kubelet,
# iptables, the bridge). Environment: DRIFTLESS_RUN_TIMEOUT (seconds to wait for the
# served response after the install, default 300).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export NODE=1
# shellcheck source=../e2e/scripts/controlplane-lib.sh
source e2e/scripts/controlplane-lib.sh

say() { printf '\033[1m==> %s\033[0m (%ss)\n' "$1" "$((SECONDS - run_started))" >&2; }
fail() {
  echo "run-node.sh: $*" >&2
  exit 1
}
run_started=$SECONDS
timeout_seconds="${DRIFTLESS_RUN_TIMEOUT:-300}"
registry="127.0.0.1:${registry_port}"

# --- 1-3. packages, binaries, the cluster -------------------------------------------
say "checking Debian packages (containerd, runc, CNI plugins, iptables, ...)"
e2e/scripts/install-deps.sh
say "building the Kubernetes binaries (first time: many minutes; cached afterwards)"
e2e/scripts/build-controlplane.sh
say "starting (or reusing) the cluster and its node"
KUBECONFIG="$(e2e/scripts/cluster-up.sh)"
export KUBECONFIG
kube=("$bin_dir/kubectl" --kubeconfig "$KUBECONFIG")

# --- 4. images -----------------------------------------------------------------------
say "building the Driftless image (first time: a release build and a Debian root filesystem)"
image/build-driftless.sh >/dev/null
digest="$(image/push.sh "$dev_dir/image/driftless.oci.tar" "$registry/driftless:dev" 2>/dev/null | tail -n1)"
[[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || fail "pushing the Driftless image to $registry gave no digest ('$digest')"
# The app images change only with config/samples/hello-world-app: built when missing
# (`make hello-images` rebuilds them), pushed every time (a no-op when the registry has them).
if [[ -f "$dev_dir/image/hello-world-1.oci.tar" && -f "$dev_dir/image/hello-world-2.oci.tar" ]]; then
  say "pushing the hello-world app images (tags 1 and 2) to $registry"
  for tag in 1 2; do
    image/push.sh "$dev_dir/image/hello-world-$tag.oci.tar" "$registry/hello-world:$tag" >/dev/null 2>&1 ||
      fail "pushing hello-world:$tag to $registry failed"
  done
else
  say "building the hello-world app images (tags 1 and 2) and pushing them to $registry"
  image/build-hello.sh "$registry" >/dev/null
fi

# --- 5. Driftless in the cluster ----------------------------------------------------
install_dir="$state_dir/install"
mkdir -p "$install_dir"
cat >"$install_dir/kustomization.yaml" <<KUSTOMIZATION
# Written by scripts/run-node.sh: config/local-node with the image just pushed.
# (kustomize takes only relative paths to other kustomizations.)
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- $(realpath --relative-to="$install_dir" "$root/config/local-node")
images:
- name: $registry/driftless
  digest: $digest
KUSTOMIZATION
say "installing Driftless ($registry/driftless@$digest) with kubectl apply -k"
"${kube[@]}" apply --server-side --force-conflicts -k "$install_dir" >/dev/null
"${kube[@]}" -n driftless-system rollout status deployment/driftless --timeout="${timeout_seconds}s" >/dev/null ||
  fail "the Driftless Deployment did not roll out; see: ${kube[*]} -n driftless-system describe pods"

# --- 6. the hello-world repository on a git server pods reach ------------------------
git_dir="$state_dir/git"
bare="$git_dir/hello-world.git"
work="$dev_dir/node-hello-world"
pid_file="$state_dir/git-daemon.pid"
port_file="$state_dir/git-daemon.port"
git_local=(git -c init.defaultBranch=main -c advice.detachedHead=false)
if [[ ! -d "$bare" ]]; then
  mkdir -p "$git_dir"
  "${git_local[@]}" init --quiet --bare "$bare"
  touch "$bare/git-daemon-export-ok"
fi
if [[ ! -d "$work/.git" ]]; then
  rm -rf "$work"
  "${git_local[@]}" init --quiet "$work"
  git -C "$work" config user.name >/dev/null || git -C "$work" config user.name "Driftless walkthrough"
  git -C "$work" config user.email >/dev/null || git -C "$work" config user.email "walkthrough@driftless.invalid"
  cp -R config/samples/hello-world/. "$work/"
  git -C "$work" add --all
  git -C "$work" commit --quiet -m "hello-world: the walkthrough's app on NodePort 30001"
fi
git -C "$work" remote remove origin 2>/dev/null || true
git -C "$work" remote add origin "$bare"
git -C "$work" push --quiet --force origin HEAD:main

daemon_running() {
  [[ -f "$pid_file" && -f "$port_file" ]] || return 1
  local pid
  pid="$(<"$pid_file")"
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--base-path=$git_dir " || return 1
  (exec 3<>"/dev/tcp/$node_ip/$(<"$port_file")") 2>/dev/null
}
if ! daemon_running; then
  port=9418
  (exec 3<>"/dev/tcp/$node_ip/$port") 2>/dev/null && fail "port $port on $node_ip is taken"
  rm -f "$pid_file"
  node_assert_local_route "$node_ip"
  setsid git daemon --reuseaddr --listen="$node_ip" --port="$port" --base-path="$git_dir" \
    --informative-errors --pid-file="$pid_file" "$git_dir" >"$state_dir/git-daemon.log" 2>&1 </dev/null 9>&- &
  echo "$port" >"$port_file"
  deadline=$((SECONDS + 20))
  until git ls-remote "git://$node_ip:$port/hello-world.git" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "git daemon did not answer on $node_ip:$port; see $state_dir/git-daemon.log"
    sleep 0.1
  done
fi
url="git://$node_ip:$(<"$port_file")/hello-world.git"

say "syncing $url (GitRepository and Kustomization hello-world in driftless-system)"
"${kube[@]}" apply --server-side --force-conflicts --field-manager=driftless-run -f - >/dev/null <<SYNC
apiVersion: source.driftless.dev/v1
kind: GitRepository
metadata:
  name: hello-world
  namespace: driftless-system
spec:
  url: $url
  ref:
    branch: main
  interval: 1m
---
apiVersion: kustomize.driftless.dev/v1
kind: Kustomization
metadata:
  name: hello-world
  namespace: driftless-system
spec:
  sourceRef:
    kind: GitRepository
    name: hello-world
  path: ./
  interval: 10m
  retryInterval: 30s
  timeout: 2m
  prune: true
  wait: true
SYNC

# --- 7. served through the NodePort ------------------------------------------------
internal_ip="$("${kube[@]}" get node "$node_name" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')"
[[ -n "$internal_ip" ]] || fail "node $node_name has no InternalIP"
node_assert_local_route "$internal_ip"
say "waiting for http://$internal_ip:30001 to answer"
deadline=$((SECONDS + timeout_seconds))
# until_answers URL: polls URL until it answers Hello World (in $answer), or fails.
until_answers() {
  until answer="$(curl --noproxy "*" -fsS --max-time 2 "$1" 2>/dev/null)" && [[ "$answer" == "Hello World"* ]]; do
    if ((SECONDS >= deadline)); then
      "${kube[@]}" get gitrepositories,kustomizations -A >&2 || true
      "${kube[@]}" get pods,svc,endpointslices -A -o wide >&2 || true
      fail "$1 did not answer Hello World within ${timeout_seconds}s"
    fi
    sleep 0.5
  done
}
# The Service's ClusterIP first, the NodePort once that serves: a connection from this host
# to a NodePort without endpoints is refused after conntrack recorded it without DNAT, and
# that entry refuses a later connection on the same source port for up to 120 s (e2e/README.md,
# "The network stays on this machine"). A ClusterIP is refused before conntrack records it.
until cluster_ip="$("${kube[@]}" -n hello-world get service hello-world -o jsonpath='{.spec.clusterIP}' 2>/dev/null)" &&
  [[ -n "$cluster_ip" ]]; do
  ((SECONDS < deadline)) || fail "Service hello-world/hello-world not created within ${timeout_seconds}s"
  sleep 0.5
done
node_assert_local_route "$cluster_ip"
until_answers "http://$cluster_ip:3000/"
until_answers "http://$internal_ip:30001/"
say "served"

cat >&2 <<HELP

Driftless runs in the cluster and serves the walkthrough's app on node $node_name:

  curl http://$internal_ip:30001          # -> $answer

  kubectl --kubeconfig $KUBECONFIG get nodes -o wide
  kubectl --kubeconfig $KUBECONFIG get gitrepositories,kustomizations -A
  kubectl --kubeconfig $KUBECONFIG -n driftless-system logs deploy/driftless
  kubectl --kubeconfig $KUBECONFIG -n hello-world get deploy,pods,svc

Change the app through git (the GitRepository polls every minute):
  cd $work && sed -i 's|hello-world:1|hello-world:2|' deployment.yaml && git commit -qam v2 && git push -q origin HEAD:main

make cluster-down stops the cluster and removes the node (bridge, iptables rules, mounts).
HELP
echo "curl http://$internal_ip:30001"
