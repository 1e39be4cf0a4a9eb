#!/usr/bin/env bash
# Builds Flux's source-controller and kustomize-controller into bench/flux/bin from the
# tools modules beside this script (versions pinned by their go.mod/go.sum), only when a
# binary is missing or older than its go.mod/go.sum (FORCE=1 rebuilds). Used only by
# `make bench-flux`, never by `make test`. A cold build takes ~20 min per controller on
# two cores; Go's caches (~/go, ~/.cache/go-build) make rebuilds fast.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
mkdir -p "$here/bin"
if ! command -v go >/dev/null 2>&1; then
  echo "bench/flux/build.sh: 'go' is not on PATH; install Go >= 1.26" >&2
  exit 1
fi
for controller in source-controller kustomize-controller; do
  dir="$here/$controller"
  out="$here/bin/$controller"
  if [[ "${FORCE:-0}" != 1 && -x "$out" && ! "$dir/go.mod" -nt "$out" && ! "$dir/go.sum" -nt "$out" ]]; then
    continue
  fi
  echo "bench/flux/build.sh: building $out (cold: ~20 min)" >&2
  started=$SECONDS
  (cd "$dir" && CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "-s -w" -o "$out.tmp" "github.com/fluxcd/$controller")
  mv -f "$out.tmp" "$out"
  echo "bench/flux/build.sh: built $out in $((SECONDS - started))s" >&2
done
