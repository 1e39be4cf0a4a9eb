#!/usr/bin/env bash
# Builds the Driftless container image with no container daemon, as an OCI archive:
#
#   image/build-driftless.sh            # or: make image
#   -> .dev/image/driftless.oci.tar (name driftless:<version>), image digest on stdout
#
# Two layers:
#   1. a Debian bookworm root filesystem made by mmdebstrap (variant essential plus
#      git, openssh-client and ca-certificates; no apt, no docs, man pages or locales),
#      with user and group 65532 "driftless" (home /home/driftless);
#   2. /usr/local/bin/driftless, the release binary (`cargo build --release -p driftless`,
#      linked against glibc; bookworm's glibc in layer 1 is the one this machine builds with).
# Entrypoint driftless, default args run, user 65532:65532.
#
# Reproducible: SOURCE_DATE_EPOCH is the commit time of HEAD; every layer is tarred
# sorted with that mtime; mmdebstrap's output is reproducible with it set; the binary
# is built with its source paths remapped. The same commit, the same Debian package
# versions and the same Rust toolchain give the same image digest (the Debian mirror
# moves, and no fixed snapshot is reachable here, so the package versions are part of
# the input: they are listed in the image's /var/lib/dpkg/status).
#
# Environment:
#   IMAGE_NAME        name recorded in the archive (default driftless:<crate version>)
#   IMAGE_OUT         archive path (default .dev/image/driftless.oci.tar)
#   DEBIAN_MIRROR     default http://deb.debian.org/debian (security: ${DEBIAN_MIRROR}-security)
#   IMAGE_CARGO_TARGET_DIR  cargo target dir for the release build (default target/image)
#   IMAGE_REBUILD_ROOTFS=1  ignore the cached Debian layer and make it again
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

install_debian_packages mmdebstrap jq gzip tar

version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo_root/Cargo.toml" | head -1)
name="${IMAGE_NAME:-driftless:$version}"
out="${IMAGE_OUT:-$image_dir/driftless.oci.tar}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
cargo_target="${IMAGE_CARGO_TARGET_DIR:-$repo_root/target/image}"
SOURCE_DATE_EPOCH=$(source_date_epoch)
export SOURCE_DATE_EPOCH
revision=$(source_revision)
started=$SECONDS

# --- 1. the release binary ------------------------------------------------------------
say "building the release binary (cargo build --release -p driftless, target dir $cargo_target)"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
# No SOURCE_DATE_EPOCH for cargo: build scripts (psm's and ring's, through cc) rerun when
# it changes, and the commit time would rebuild most of the tree at every commit.
RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$repo_root=/driftless --remap-path-prefix=$cargo_home=/cargo" \
  CARGO_TARGET_DIR="$cargo_target" \
  nice -n 5 env -u SOURCE_DATE_EPOCH cargo build --release --locked -p driftless --bin driftless
binary="$cargo_target/release/driftless"
say "release binary ready after $((SECONDS - started)) s"

# --- 2. the Debian layer (cached by its recipe; the packages decide its bytes) ----------
packages=(git openssh-client ca-certificates)
deb_cache="$image_dir/cache/debs"
mkdir -p "$deb_cache"

make_rootfs() {
  local dest="$1"
  # The user's passwd/group/shadow entries are written by hand (no useradd: it stamps
  # the day of creation into /etc/shadow).
  local add_user='
    echo "driftless:x:65532:65532:driftless:/home/driftless:/usr/sbin/nologin" >>"$1/etc/passwd"
    echo "driftless:x:65532:" >>"$1/etc/group"
    if [ -f "$1/etc/shadow" ]; then echo "driftless:!:0:0:99999:7:::" >>"$1/etc/shadow"; fi
    if [ -f "$1/etc/gshadow" ]; then echo "driftless:!::" >>"$1/etc/gshadow"; fi
    mkdir -p "$1/home/driftless"
    chown 65532:65532 "$1/home/driftless"
    chmod 0750 "$1/home/driftless"'
  # Host files mmdebstrap copies in, and runtime state: the container runtime provides
  # resolv.conf and hostname, and nothing here should differ between two builds.
  local strip_host='
    rm -f "$1/etc/resolv.conf" "$1/etc/hostname"
    rm -rf "$1/var/cache/debconf/"*-old "$1/var/lib/dpkg/"*-old "$1/var/log/"*
    : >"$1/etc/machine-id"'
  rm -rf "$dest"
  SOURCE_DATE_EPOCH="$debian_epoch" nice -n 5 mmdebstrap --quiet --mode=root \
    --variant=essential --include="$(IFS=,; echo "${packages[*]}")" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --skip=essential/unlink \
    --setup-hook="mkdir -p \"\$1/var/cache/apt/archives/\"" \
    --setup-hook="sync-in $deb_cache /var/cache/apt/archives/" \
    --customize-hook="sync-out /var/cache/apt/archives $deb_cache" \
    --customize-hook="$add_user" \
    --customize-hook="$strip_host" \
    bookworm "$dest" \
    "deb $mirror bookworm main" \
    "deb $mirror bookworm-updates main" \
    "deb ${mirror}-security bookworm-security main"
  # sync-out copies partial downloads and lock files too; keep only the .deb files.
  find "$deb_cache" -mindepth 1 ! -name '*.deb' -exec rm -rf {} + 2>/dev/null || true
}

# The recipe: what decides the root filesystem's contents (not the commit).
recipe=$(printf '%s\n' "bookworm" "$mirror" "${packages[@]}" "$debian_epoch" "$(declare -f make_rootfs)" |
  sha256sum | cut -c1-16)
rootfs_cache="$image_dir/cache/rootfs-$recipe"
if [[ -n "${IMAGE_REBUILD_ROOTFS:-}" || ! -d "$rootfs_cache" ]]; then
  say "making the Debian root filesystem with mmdebstrap (bookworm, ${packages[*]})"
  make_rootfs "$rootfs_cache.tmp"
  rm -rf "$rootfs_cache"
  mv "$rootfs_cache.tmp" "$rootfs_cache"
  # Older recipes' root filesystems are no use any more.
  find "$image_dir/cache" -mindepth 1 -maxdepth 1 -name 'rootfs-*' ! -name "rootfs-$recipe" \
    -exec rm -rf {} +
  say "root filesystem ready after $((SECONDS - started)) s"
else
  say "reusing the Debian root filesystem $rootfs_cache (IMAGE_REBUILD_ROOTFS=1 makes it again)"
fi

# --- 3. the binary layer, checked in the root filesystem it will run in ----------------
work=$(mktemp -d "${TMPDIR:-/tmp}/driftless-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin/usr/local/bin"
install -m 0755 -o 0 -g 0 "$binary" "$work/bin/usr/local/bin/driftless"
chmod 0755 "$work/bin" "$work/bin/usr" "$work/bin/usr/local" "$work/bin/usr/local/bin"
chown -R 0:0 "$work/bin"

smoke="$rootfs_cache/tmp/driftless-smoke-test"
cp "$binary" "$smoke"
trap 'rm -f "$smoke"; rm -rf "$work"' EXIT
if ! reported=$(chroot --userspec=65532:65532 "$rootfs_cache" /tmp/driftless-smoke-test version); then
  say "the release binary does not run in the image's root filesystem"
  exit 1
fi
rm -f "$smoke"
say "in the image's root filesystem, as user 65532: $reported"

# --- 4. the archive ----------------------------------------------------------------------
config=$(jq -cn '{
  User: "65532:65532",
  Entrypoint: ["/usr/local/bin/driftless"],
  Cmd: ["run"],
  Env: [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/home/driftless",
    "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
  ],
  WorkingDir: "/home/driftless",
  ExposedPorts: {"8080/tcp": {}, "9090/tcp": {}, "9440/tcp": {}}
}')
digest=$("$repo_root/image/oci-assemble.sh" --out "$out" --name "$name" --config "$config" \
  --label "org.opencontainers.image.title=driftless" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$revision" \
  --label "org.opencontainers.image.source=https://github.com/driftless-dev/driftless" \
  --label "org.opencontainers.image.licenses=Apache-2.0" \
  "$rootfs_cache@$debian_epoch" "$work/bin")
size=$(stat -c %s "$out")
say "wrote $out ($name, $((size / 1024 / 1024)) MiB compressed) in $((SECONDS - started)) s"
echo "$digest"
