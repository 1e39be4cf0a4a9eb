#!/usr/bin/env bash
# `make run`: Driftless on this machine, from nothing to a cluster that follows git.
#
#  1. installs the Debian packages the local setup needs (e2e/scripts/install-deps.sh);
#  2. unless $KUBECONFIG is set: builds kube-apiserver + etcd from the Go module proxy and
#     starts them on loopback (e2e/scripts/cluster-up.sh, kubeconfig in .dev/kubeconfig);
#  3. builds the driftless binary and installs the CRDs and the driftless-system namespace;
#  4. pushes config/samples/hello-world into a local bare repository
#     .dev/git/hello-world.git (working clone for you: .dev/hello-world) and serves it with
#     `git daemon` on a free loopback port (pid in .dev/git-daemon.pid);
#  5. applies a GitRepository and a Kustomization for it (config/samples/hello-world-sync.yaml);
#  6. prints how to watch, then runs the controllers in the foreground (Ctrl-C stops them).
#
# Idempotent: a second run reuses the control plane, the repositories and a running
# git daemon. Environment:
#   KUBECONFIG     use this cluster instead of starting the local control plane
#   METRICS_ADDR   /metrics address (default 127.0.0.1:8080)
#   HEALTH_ADDR    /healthz and /readyz address (default 127.0.0.1:9440)
#   STORAGE_ADDR   artifact server address (default 127.0.0.1:9090)
#   DRIFTLESS_BIN  run this driftless binary instead of building target/debug/driftless
#   DRIFTLESS_RUN_NO_EXEC=1  prepare everything and print the command instead of running it
set -euo pipefail

# `make run NODE=1`: Driftless in-cluster on a real node instead (scripts/run-node.sh).
if [[ "${NODE:-0}" == 1 ]]; then
  exec "$(dirname "${BASH_SOURCE[0]}")/run-node.sh"
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dev="$root/.dev"
metrics_addr="${METRICS_ADDR:-127.0.0.1:8080}"
health_addr="${HEALTH_ADDR:-127.0.0.1:9440}"
storage_addr="${STORAGE_ADDR:-127.0.0.1:9090}"
cd "$root"
mkdir -p "$dev"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
fail() {
  echo "run-local.sh: $*" >&2
  exit 1
}

# --- 1. dependencies and the cluster ------------------------------------------------
say "checking Debian packages (git, openssl, curl, ...)"
e2e/scripts/install-deps.sh
command -v kubectl >/dev/null 2>&1 || fail "kubectl is missing (apt-get install kubernetes-client, or any kubectl)"

if [[ -n "${KUBECONFIG:-}" ]]; then
  say "using the cluster of KUBECONFIG=$KUBECONFIG"
else
  say "building kube-apiserver and etcd (first time: several minutes; cached afterwards)"
  e2e/scripts/build-controlplane.sh
  say "starting (or reusing) the local control plane"
  KUBECONFIG="$(e2e/scripts/cluster-up.sh)"
  export KUBECONFIG
fi
kube=(kubectl --kubeconfig "$KUBECONFIG")

# --- 2. the binary, the CRDs, the namespace -----------------------------------------
if [[ -n "${DRIFTLESS_BIN:-}" ]]; then
  driftless="$DRIFTLESS_BIN"
  [[ -x "$driftless" ]] || fail "DRIFTLESS_BIN=$driftless is not an executable"
else
  say "building driftless"
  cargo build --quiet -p driftless
  driftless="$root/target/debug/driftless"
fi

say "installing the CRDs"
"$driftless" crds | "${kube[@]}" apply --server-side --field-manager=driftless-run -f - >/dev/null
"$driftless" crds | "${kube[@]}" wait --for=condition=Established --timeout=60s -f - >/dev/null
"${kube[@]}" apply --server-side --field-manager=driftless-run -f config/manager/namespace.yaml >/dev/null

# --- 3. a local git repository holding the hello-world sample ----------------------
bare="$dev/git/hello-world.git"
work="$dev/hello-world"
git_local=(git -c init.defaultBranch=main -c advice.detachedHead=false)
if [[ ! -d "$bare" ]]; then
  say "creating $bare"
  mkdir -p "$dev/git"
  "${git_local[@]}" init --quiet --bare "$bare"
  # git daemon serves only repositories that ask for it (or --export-all).
  touch "$bare/git-daemon-export-ok"
fi
if [[ ! -d "$work/.git" ]]; then
  say "creating the working clone $work"
  rm -rf "$work"
  "${git_local[@]}" init --quiet "$work"
  git -C "$work" remote add origin "$bare"
  # Commits made here need an author even where git has no global identity.
  git -C "$work" config user.name >/dev/null || git -C "$work" config user.name "Driftless quickstart"
  git -C "$work" config user.email >/dev/null || git -C "$work" config user.email "quickstart@driftless.invalid"
fi
if ! git -C "$work" rev-parse --quiet --verify HEAD >/dev/null; then
  say "pushing config/samples/hello-world to $bare"
  cp -R config/samples/hello-world/. "$work/"
  git -C "$work" add --all
  git -C "$work" commit --quiet -m "hello-world: the Driftless quickstart sample"
  git -C "$work" push --quiet origin main
fi

# --- 4. git daemon on a free loopback port ------------------------------------------
pid_file="$dev/git-daemon.pid"
port_file="$dev/git-daemon.port"
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
daemon_running() {
  [[ -f "$pid_file" && -f "$port_file" ]] || return 1
  local pid
  pid="$(<"$pid_file")"
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--base-path=$dev/git" || return 1
  port_in_use "$(<"$port_file")"
}
if daemon_running; then
  port="$(<"$port_file")"
  say "reusing git daemon (pid $(<"$pid_file")) on 127.0.0.1:$port"
else
  port=""
  for _ in $(seq 1 200); do
    candidate=$((20000 + RANDOM % 12000))
    if ! port_in_use "$candidate"; then
      port="$candidate"
      break
    fi
  done
  [[ -n "$port" ]] || fail "found no free port on 127.0.0.1 for git daemon"
  say "starting git daemon on 127.0.0.1:$port"
  rm -f "$pid_file"
  setsid git daemon --reuseaddr --listen=127.0.0.1 --port="$port" \
    --base-path="$dev/git" --enable=receive-pack --informative-errors \
    --pid-file="$pid_file" "$dev/git" >"$dev/git-daemon.log" 2>&1 </dev/null &
  echo "$port" >"$port_file"
  deadline=$((SECONDS + 20))
  until git ls-remote "git://127.0.0.1:$port/hello-world.git" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "git daemon did not answer on 127.0.0.1:$port within 20s; see $dev/git-daemon.log"
    sleep 0.1
  done
fi
url="git://127.0.0.1:$port/hello-world.git"
# Pushes from the working clone go through the daemon, like a real git server.
git -C "$work" remote set-url origin "$url"

# --- 5. GitRepository + Kustomization -----------------------------------------------
say "applying the GitRepository and Kustomization for $url"
sed "s|git://127.0.0.1:9418/hello-world.git|$url|" config/samples/hello-world-sync.yaml |
  "${kube[@]}" apply --server-side --field-manager=driftless-run -f - >/dev/null

# --- 6. run -------------------------------------------------------------------------
mkdir -p "$dev/storage"
kubectl_hint="kubectl --kubeconfig $KUBECONFIG"
cat >&2 <<HELP

Driftless is starting in the foreground (Ctrl-C stops it). In another terminal:

  watch the sources and what they applied
    $kubectl_hint get gitrepositories,kustomizations -A
    $kubectl_hint get all,configmaps -n hello-world
    $kubectl_hint get events -n driftless-system

  metrics and probes
    curl -s http://$metrics_addr/metrics | grep ^driftless_
    curl -s http://$health_addr/readyz

  push a change and watch it land
    cd $work
    sed -i 's/Hello, world!/Hello, GitOps!/' configmap.yaml
    git commit -am "Say hello to GitOps" && git push
    $kubectl_hint annotate --overwrite -n driftless-system gitrepository/hello-world \\
      reconcile.driftless.dev/requestedAt="\$(date +%s)"    # or wait for the 1m interval
    $kubectl_hint get configmap hello-world -n hello-world -o jsonpath='{.data.message}'

  Note: the local control plane has no kubelet, so the hello-world Deployment never gets
  pods; the Kustomization does not wait for it (wait: false).

HELP

command=("$driftless" run
  --storage-path "$dev/storage"
  --metrics-addr "$metrics_addr"
  --health-addr "$health_addr"
  --storage-addr "$storage_addr"
  --storage-adv-addr "http://$storage_addr")
if [[ "${DRIFTLESS_RUN_NO_EXEC:-}" == 1 ]]; then
  printf 'KUBECONFIG=%q' "$KUBECONFIG"
  printf ' %q' "${command[@]}"
  echo
  exit 0
fi
exec "${command[@]}"
