#!/usr/bin/env bash
# Pushes an OCI archive made by the image/ scripts to a registry, digest unchanged:
#
#   image/push.sh ARCHIVE.oci.tar HOST[:PORT]/REPO:TAG
#
# Plain HTTP (no TLS verification) for registries on loopback (127.0.0.0/8, localhost,
# [::1]); TLS with verification for any other host unless IMAGE_TLS_VERIFY=false.
# Registry credentials, if needed, come from skopeo's usual auth file
# (`skopeo login HOST`). Prints the digest the registry stored.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

archive="${1:?usage: image/push.sh ARCHIVE.oci.tar HOST[:PORT]/REPO:TAG}"
ref="${2:?usage: image/push.sh ARCHIVE.oci.tar HOST[:PORT]/REPO:TAG}"
[[ -f "$archive" ]] || { say "no archive $archive (build it first)"; exit 1; }
reference='^[][A-Za-z0-9.:-]+/[a-z0-9._/-]+:[A-Za-z0-9_.-]+$'
[[ "$ref" =~ $reference ]] ||
  { say "image reference $ref is not HOST[:PORT]/REPO:TAG"; exit 1; }
install_debian_packages skopeo

host="${ref%%/*}"
verify="${IMAGE_TLS_VERIFY:-}"
if [[ -z "$verify" ]]; then
  case "$host" in
    127.*|localhost|localhost:*|\[::1\]|\[::1\]:*) verify=false ;;
    *) verify=true ;;
  esac
fi

digestfile=$(mktemp)
trap 'rm -f "$digestfile"' EXIT
skopeo copy --quiet --preserve-digests --dest-tls-verify="$verify" --digestfile "$digestfile" \
  "oci-archive:$archive" "docker://$ref" >&2
say "pushed $archive to $ref"
cat "$digestfile"
echo
