#!/usr/bin/env bash
# Builds the walkthrough's hello-world app images (config/samples/hello-world-app/app.js
# on Debian's nodejs, port 3000) with no container daemon, one OCI archive per tag:
#
#   image/build-hello.sh [REGISTRY]          # or: make hello-images [REGISTRY=127.0.0.1:5000]
#   -> .dev/image/hello-world-1.oci.tar  answers "Hello World"
#      .dev/image/hello-world-2.oci.tar  answers "Hello World v2"
#   and, given REGISTRY (host:port), pushes them as REGISTRY/hello-world:1 and :2.
#
# HELLO_TAGS="1 2" chooses the tags (each tag N > 1 answers "Hello World vN").
# A test that wants to push tag 2 later builds both and pushes with image/push.sh.
#
# The root filesystem is Debian's nodejs and its libraries, unpacked by mmdebstrap's
# extract variant (no shell, no package manager, no maintainer scripts run): about
# 110 MB unpacked. Reproducible like image/build-driftless.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

registry="${1:-${REGISTRY:-}}"
tags=(${HELLO_TAGS:-1 2})
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
app="$repo_root/config/samples/hello-world-app/app.js"
install_debian_packages mmdebstrap jq gzip tar
SOURCE_DATE_EPOCH=$(source_date_epoch)
export SOURCE_DATE_EPOCH
revision=$(source_revision)
started=$SECONDS

for tag in "${tags[@]}"; do
  [[ "$tag" =~ ^[1-9][0-9]{0,5}$ ]] || { say "tag $tag is not a small positive number"; exit 1; }
done

# --- the nodejs root filesystem (cached by its recipe) ----------------------------------
recipe=$(printf '%s\n' "bookworm" "$mirror" nodejs "$debian_epoch" \
  "$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)" | sha256sum | cut -c1-16)
rootfs="$image_dir/cache/hello-rootfs-$recipe"
if [[ ! -d "$rootfs" ]]; then
  say "unpacking Debian's nodejs into a root filesystem (mmdebstrap --variant=extract)"
  rm -rf "$rootfs.tmp"
  mkdir -p "$image_dir/cache"
  SOURCE_DATE_EPOCH="$debian_epoch" nice -n 5 mmdebstrap --quiet --mode=root \
    --variant=extract --include=nodejs \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    bookworm "$rootfs.tmp" \
    "deb $mirror bookworm main" \
    "deb ${mirror}-security bookworm-security main"
  # mmdebstrap 1.3 runs no customize hooks for the extract variant: finish here.
  # Users by number only (root and the app's 65532); nothing of the host or of apt.
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\napp:x:65532:65532:app:/app:/usr/sbin/nologin\n' \
    >"$rootfs.tmp/etc/passwd"
  printf 'root:x:0:\napp:x:65532:\n' >"$rootfs.tmp/etc/group"
  rm -rf "$rootfs.tmp/dev/"* "$rootfs.tmp/var/cache/"* "$rootfs.tmp/var/log/"* \
    "$rootfs.tmp/var/lib/apt" "$rootfs.tmp/etc/apt" "$rootfs.tmp/etc/resolv.conf" "$rootfs.tmp/etc/hostname"
  # Debian's node loads extra CA certificates from this file and warns at every start
  # when it is missing; the app makes no TLS connections, so an empty bundle will do.
  mkdir -p "$rootfs.tmp/etc/ssl/certs"
  : >"$rootfs.tmp/etc/ssl/certs/ca-certificates.crt"
  chmod 0644 "$rootfs.tmp/etc/passwd" "$rootfs.tmp/etc/group" "$rootfs.tmp/etc/ssl/certs/ca-certificates.crt"
  mv "$rootfs.tmp" "$rootfs"
  # Older recipes' root filesystems are no use any more.
  find "$image_dir/cache" -mindepth 1 -maxdepth 1 -name 'hello-rootfs-*' ! -name "hello-rootfs-$recipe" \
    -exec rm -rf {} +
fi
if ! node_version=$(chroot --userspec=65532:65532 "$rootfs" /usr/bin/node -e 'console.log(process.version)'); then
  say "node does not run in $rootfs"
  exit 1
fi
say "root filesystem with node $node_version ready after $((SECONDS - started)) s"

# --- one archive per tag ------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/hello-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/app/app"
install -m 0644 -o 0 -g 0 "$app" "$work/app/app/app.js"
chmod 0755 "$work/app" "$work/app/app"
chown 0:0 "$work/app" "$work/app/app"

for tag in "${tags[@]}"; do
  out="$image_dir/hello-world-$tag.oci.tar"
  config=$(jq -cn --arg version "$tag" '{
    User: "65532:65532",
    Entrypoint: ["/usr/bin/node", "/app/app.js"],
    Env: ["PATH=/usr/local/bin:/usr/bin:/bin", "NODE_ENV=production", "APP_VERSION=\($version)"],
    WorkingDir: "/app",
    ExposedPorts: {"3000/tcp": {}}
  }')
  digest=$("$repo_root/image/oci-assemble.sh" --out "$out" --name "hello-world:$tag" \
    --config "$config" \
    --label "org.opencontainers.image.title=hello-world" \
    --label "org.opencontainers.image.version=$tag" \
    --label "org.opencontainers.image.revision=$revision" \
    "$rootfs@$debian_epoch" "$work/app")
  say "wrote $out ($(($(stat -c %s "$out") / 1024 / 1024)) MiB, $digest)"
  if [[ -n "$registry" ]]; then
    "$repo_root/image/push.sh" "$out" "$registry/hello-world:$tag" >/dev/null
  fi
done
say "done in $((SECONDS - started)) s"
