# Shared by the image/ scripts (sourced, not run).
# shellcheck shell=bash

# The repository root, whatever directory the caller runs from.
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Where images are written unless IMAGE_DIR says otherwise.
image_dir="${IMAGE_DIR:-$repo_root/.dev/image}"

# SOURCE_DATE_EPOCH: the caller's value, else the commit time of HEAD, so the same
# commit gives the same timestamps in every layer and config.
source_date_epoch() {
  if [[ -n "${SOURCE_DATE_EPOCH:-}" ]]; then
    echo "$SOURCE_DATE_EPOCH"
  else
    git -C "$repo_root" log -1 --format=%ct
  fi
}

# The commit the image is built from, with "-dirty" when the worktree has changes.
source_revision() {
  local rev
  rev=$(git -C "$repo_root" rev-parse HEAD)
  if ! git -C "$repo_root" diff --quiet HEAD -- 2>/dev/null; then rev="$rev-dirty"; fi
  echo "$rev"
}

# Installs the Debian packages named, only the missing ones (needs root or sudo).
install_debian_packages() {
  local missing=() package sudo_cmd=()
  for package in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
      missing+=("$package")
    fi
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  echo "image: installing ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "image: need root or sudo to install ${missing[*]}" >&2; return 1; }
    sudo_cmd=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

say() { echo "image: $*" >&2; }

# Compressed layers by content (see image/oci-assemble.sh): unchanged layers are not
# compressed again.
export OCI_LAYER_CACHE="${OCI_LAYER_CACHE:-$image_dir/cache/layers}"

# The time stamped on Debian base layers (bookworm's release, 2023-06-10) instead of the
# commit time: the base layer then depends only on the Debian packages in it, and stays
# byte-identical across commits.
export debian_epoch=1686355200
