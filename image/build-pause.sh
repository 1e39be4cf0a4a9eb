#!/usr/bin/env bash
# Builds the pod sandbox ("pause") image the local node's containerd needs, as an OCI
# archive: a static binary of image/pause/pause.c and nothing else, user 65535.
#
#   image/build-pause.sh [OUT.oci.tar]     default .dev/image/pause.oci.tar
#
# PAUSE_NAME (default registry.k8s.io/pause:3.6, containerd 1.6's default
# sandbox_image) is the name `ctr -n k8s.io images import` gives it.
# Prints the image digest. Reproducible: same source and compiler, same digest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

out="${1:-$image_dir/pause.oci.tar}"
name="${PAUSE_NAME:-registry.k8s.io/pause:3.6}"
install_debian_packages gcc libc6-dev jq

SOURCE_DATE_EPOCH=$(source_date_epoch)
export SOURCE_DATE_EPOCH

work=$(mktemp -d "${TMPDIR:-/tmp}/pause-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs"
gcc -static -Os -s -Wall -Werror -ffile-prefix-map="$repo_root"=. -Wl,--build-id=none \
  -o "$work/rootfs/pause" "$repo_root/image/pause/pause.c"
chown 0:0 "$work/rootfs" "$work/rootfs/pause"
chmod 0755 "$work/rootfs" "$work/rootfs/pause"

"$repo_root/image/oci-assemble.sh" --out "$out" --name "$name" \
  --config '{"User":"65535:65535","Entrypoint":["/pause"]}' \
  --label "org.opencontainers.image.title=driftless-pause" \
  "$work/rootfs"
