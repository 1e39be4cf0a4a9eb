#!/usr/bin/env bash
# Builds e2e/bin/sops and e2e/bin/age-keygen from the Go tools module in e2e/tools
# (versions pinned by its go.mod/go.sum), only when missing or stale: go.mod/go.sum
# newer than a binary, or a binary reporting another version than go.mod pins.
# The e2e tests make their SOPS fixtures with these real tools, never with our own
# encryptor. FORCE=1 rebuilds regardless.
set -euo pipefail

e2e_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
module_dir="$e2e_dir/tools"
bin_dir="$e2e_dir/bin"
cd "$module_dir"

if ! command -v go >/dev/null 2>&1; then
  echo "build-tools.sh: 'go' is not on PATH; install Go >= $(sed -n 's/^go //p' go.mod)" >&2
  exit 1
fi

sops_version="$(go list -m -f '{{.Version}}' github.com/getsops/sops/v3)"
age_version="$(go list -m -f '{{.Version}}' filippo.io/age)"

# True when $1 is missing, older than go.mod/go.sum, or does not print $3 for `$1 $2`.
needs_build() {
  local binary="$1" version_flag="$2" expected="$3"
  [[ "${FORCE:-0}" == 1 ]] && return 0
  [[ -x "$binary" ]] || return 0
  [[ go.mod -nt "$binary" || go.sum -nt "$binary" ]] && return 0
  "$binary" "$version_flag" 2>/dev/null | grep -qF -- "$expected" || return 0
  return 1
}

build() {
  local output="$1" package="$2"
  local started=$SECONDS
  echo "build-tools.sh: building $output from $package" >&2
  CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "-s -w" -o "$output.tmp" "$package"
  mv -f "$output.tmp" "$output"
  echo "build-tools.sh: built $output in $((SECONDS - started))s" >&2
}

mkdir -p "$bin_dir"
# sops prints "sops 3.13.3"; age-keygen prints "v1.3.2". sops would ask GitHub for its
# latest version unless told not to (the tests send traffic to loopback only).
export SOPS_DISABLE_VERSION_CHECK=1
if needs_build "$bin_dir/sops" --version "sops ${sops_version#v}"; then
  build "$bin_dir/sops" github.com/getsops/sops/v3/cmd/sops
fi
if needs_build "$bin_dir/age-keygen" --version "${age_version}"; then
  build "$bin_dir/age-keygen" filippo.io/age/cmd/age-keygen
fi
echo "build-tools.sh: sops ${sops_version}, age-keygen ${age_version} in $bin_dir" >&2
