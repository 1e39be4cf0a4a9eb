#!/usr/bin/env bash
# Stops the loopback control plane started by cluster-up.sh and removes its
# state (.dev/controlplane, .dev/kubeconfig). A no-op when nothing runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/controlplane-lib.sh"
take_lock
stop_recorded_plane
echo "cluster-down.sh: control plane stopped, state removed" >&2
