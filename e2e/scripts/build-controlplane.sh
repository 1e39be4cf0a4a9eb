#!/usr/bin/env bash
# Builds e2e/bin/kube-apiserver and e2e/bin/etcd from the Go tools module in
# e2e/controlplane (versions pinned by its go.mod/go.sum), only when they are
# missing or stale: go.mod/go.sum newer than a binary, or a binary reporting a
# version other than the one go.mod pins.
#
# NODE=1 also builds what a node cluster needs: kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy and a kubectl of the same release (same
# module, same cache rules). NODE_ONLY=1 builds only those five.
#
# Set FORCE=1 to rebuild regardless. Go's module and build caches (~/go,
# ~/.cache/go-build) make rebuilds fast; they live outside the repository.
set -euo pipefail

e2e_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
module_dir="$e2e_dir/controlplane"
bin_dir="$e2e_dir/bin"
cd "$module_dir"

if ! command -v go >/dev/null 2>&1; then
  echo "build-controlplane.sh: 'go' is not on PATH; install Go >= $(sed -n 's/^go //p' go.mod)" >&2
  exit 1
fi

kube_version="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
etcd_version="$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"

# True when $1 is missing, older than go.mod/go.sum, or does not print $3 for `$1 $2`.
needs_build() {
  local binary="$1" version_flag="$2" expected="$3"
  [[ "${FORCE:-0}" == 1 ]] && return 0
  [[ -x "$binary" ]] || return 0
  [[ go.mod -nt "$binary" || go.sum -nt "$binary" ]] && return 0
  # shellcheck disable=SC2086 # the flag may be several words ("version --client")
  "$binary" $version_flag 2>/dev/null | grep -qF -- "$expected" || return 0
  return 1
}

# Release time of the pinned kubernetes version, as a reproducible build date.
info_file="$(go mod download -json "k8s.io/kubernetes@${kube_version}" |
  sed -n 's/^[[:space:]]*"Info": "\(.*\)",$/\1/p')"
build_date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$info_file" 2>/dev/null || true)"
build_date="${build_date:-1970-01-01T00:00:00Z}"

if [[ "$kube_version" =~ ^v([0-9]+)\.([0-9]+)\. ]]; then
  git_major="${BASH_REMATCH[1]}"
  git_minor="${BASH_REMATCH[2]}"
else
  echo "build-controlplane.sh: cannot parse k8s.io/kubernetes version '$kube_version' from $module_dir/go.mod" >&2
  exit 1
fi

version_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  version_ldflags+=" -X ${pkg}.gitVersion=${kube_version}"
  version_ldflags+=" -X ${pkg}.gitMajor=${git_major}"
  version_ldflags+=" -X ${pkg}.gitMinor=${git_minor}"
  version_ldflags+=" -X ${pkg}.gitTreeState=clean"
  version_ldflags+=" -X ${pkg}.buildDate=${build_date}"
done

# Progress for a cold build (minutes): `go build -v` names each package it
# compiles; print a count against the package's dependency total every 20 s.
build() {
  local output="$1" package="$2" ldflags="$3"
  local name total
  name="$(basename "$output")"
  total="$(go list -deps "$package" 2>/dev/null | wc -l)"
  echo "build-controlplane.sh: building $output from $package (at most $total packages to compile)" >&2
  local started=$SECONDS
  if ! CGO_ENABLED=0 nice -n 10 go build -v -trimpath -ldflags "-s -w${ldflags}" -o "$output.tmp" "$package" 2>&1 |
    {
      local compiled=0 reported=$SECONDS line
      while IFS= read -r line; do
        # Package paths only; anything else (an error) is shown as it is.
        if [[ "$line" =~ ^[a-zA-Z0-9_./~-]+$ ]]; then
          compiled=$((compiled + 1))
        else
          echo "$line" >&2
        fi
        if ((SECONDS - reported >= 20)); then
          reported=$SECONDS
          echo "build-controlplane.sh: $name: $compiled/$total packages compiled ($((SECONDS - started))s)" >&2
        fi
      done
    }; then
    echo "build-controlplane.sh: go build of $package failed" >&2
    exit 1
  fi
  mv -f "$output.tmp" "$output"
  echo "build-controlplane.sh: built $output in $((SECONDS - started))s" >&2
}

mkdir -p "$bin_dir"
if [[ "${NODE_ONLY:-0}" != 1 ]]; then
  if needs_build "$bin_dir/kube-apiserver" --version "Kubernetes ${kube_version}"; then
    build "$bin_dir/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver "$version_ldflags"
  fi
  if needs_build "$bin_dir/etcd" --version "etcd Version: ${etcd_version#v}"; then
    build "$bin_dir/etcd" go.etcd.io/etcd/server/v3 ""
  fi
  echo "build-controlplane.sh: kube-apiserver ${kube_version}, etcd ${etcd_version} in $bin_dir" >&2
fi
if [[ "${NODE:-0}" == 1 || "${NODE_ONLY:-0}" == 1 ]]; then
  for command in kubelet kube-proxy kube-scheduler kube-controller-manager; do
    if needs_build "$bin_dir/$command" --version "Kubernetes ${kube_version}"; then
      build "$bin_dir/$command" "k8s.io/kubernetes/cmd/$command" "$version_ldflags"
    fi
  done
  if needs_build "$bin_dir/kubectl" "version --client" "Client Version: ${kube_version}"; then
    build "$bin_dir/kubectl" k8s.io/kubernetes/cmd/kubectl "$version_ldflags"
  fi
  echo "build-controlplane.sh: kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl ${kube_version} in $bin_dir" >&2
fi
