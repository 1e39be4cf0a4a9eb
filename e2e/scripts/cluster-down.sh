#!/usr/bin/env bash
# Stops the loopback control plane started by cluster-up.sh and removes its
# state (.dev/controlplane, .dev/kubeconfig). A no-op when nothing runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/controlplane-lib.sh"
take_lock
stop_recorded_plane
echo "cluster-down.sh: control plane stopped, state removed" >&2
# The named planes (DRIFTLESS_PLANE) go down with the default one.
if [[ -z "${DRIFTLESS_PLANE:-}" && "${NODE:-0}" != 1 ]]; then
  for named in "$dev_dir"/plane-*/; do
    [[ -d "$named" ]] || continue
    name="$(basename "$named")"
    DRIFTLESS_PLANE="${name#plane-}" "$0"
  done
fi
