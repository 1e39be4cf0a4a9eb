#!/usr/bin/env bash
# Installs the Debian packages the e2e tests need, only the missing ones.
# A fast no-op when everything is present. Needs root (or sudo) to install.
#
#   git            git daemon, git http-backend, the git CLI the tests drive
#   lighttpd       HTTP front for git http-backend (smart HTTP, basic auth)
#   docker-registry  the OCI distribution registry ("registry" binary)
#   openssl        CA, serving and client certificates; password hashes
#   curl           readiness probes in cluster-up.sh
#   gnupg          gpg: signed commits and tags for GitRepository spec.verify
#   openssh-server sshd for git over ssh:// (SshServer, started per test, unprivileged, key-only)
#   openssh-client ssh (git's and gix's ssh transport), ssh-keyscan (`driftless create secret git`)
#
# NODE=1 adds what the local node needs (cluster-up.sh with NODE=1, node-lib.sh):
#   containerd, runc                 the container runtime (CRI plugin) and OCI runtime
#   containernetworking-plugins      CNI bridge, host-local, loopback, portmap (/usr/lib/cni)
#   iptables, conntrack              kube-proxy's iptables mode and its conntrack cleanup
#   iproute2                         the pod bridge, route checks
#   jq                               JSON from ctr and the API in the scripts
#   gcc, libc6-dev                   the static pause binary (image/build-pause.sh)
set -euo pipefail

packages=(git lighttpd docker-registry openssl curl ca-certificates gnupg openssh-server openssh-client)
if [[ "${NODE:-0}" == 1 ]]; then
  packages+=(containerd runc containernetworking-plugins iptables conntrack iproute2 jq gcc libc6-dev)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$package")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "install-deps.sh: installing ${missing[*]}" >&2
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-deps.sh: need root or sudo to install ${missing[*]}" >&2
    exit 1
  fi
  sudo_cmd=(sudo)
fi

# Keep the packages' own services (lighttpd on :80, the registry on :5000, sshd on :22, containerd)
# from being started by their maintainer scripts: tests start their own instances.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
  "${sudo_cmd[@]}" chmod +x "$policy"
  created_policy=1
fi
remove_policy() {
  if [[ $created_policy -eq 1 ]]; then "${sudo_cmd[@]}" rm -f "$policy"; fi
}
trap remove_policy EXIT

export DEBIAN_FRONTEND=noninteractive
if ! "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
