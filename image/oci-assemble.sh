#!/usr/bin/env bash
# Assembles a reproducible OCI image archive from root filesystem directories, one
# layer per directory, with no container daemon. Every byte is a function of the
# inputs and SOURCE_DATE_EPOCH:
#   - layers: GNU tar, entries sorted by name (C locale), mtime = SOURCE_DATE_EPOCH,
#     numeric uid/gid as found on disk (set them before calling), no atime/ctime,
#     fixed pax header names, then `gzip -n` (no name, no timestamp);
#   - config and manifest: compact JSON written by jq, `created` = SOURCE_DATE_EPOCH;
#   - the archive (an OCI image layout in a tar, what `skopeo copy oci-archive:`,
#     `ctr images import` and `podman load` read) is tarred the same way.
#
# Usage:
#   image/oci-assemble.sh --out FILE.oci.tar --name REPO:TAG --config JSON \
#       [--label KEY=VALUE]... LAYER_DIR[@EPOCH]...
#
#   LAYER_DIR@EPOCH  tars that layer with mtime EPOCH instead of SOURCE_DATE_EPOCH: a base
#             layer stamped with a fixed time stays byte-identical across commits, so
#             registries and nodes keep it when only the layers above it change.
#   --name    the image name recorded in the archive's index: the part after the
#             last ':' becomes org.opencontainers.image.ref.name (what skopeo selects
#             with oci-archive:FILE:TAG), the whole name io.containerd.image.name
#             (what `ctr images import` names the image).
#   --config  the OCI image config's "config" object (User, Entrypoint, Cmd, Env, ...).
#   --label   added to config.Labels and to the manifest's annotations.
#
# OCI_LAYER_CACHE (a directory, optional) keeps compressed layers by the digest of
# their uncompressed tar, so an unchanged layer is not compressed again.
#
# Prints the manifest digest (the image digest a registry reports) on stdout.
set -euo pipefail

die() { echo "oci-assemble.sh: $*" >&2; exit 1; }

out="" name="" config='{}' labels=()
layers=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --name) name="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --label) labels+=("$2"); shift 2 ;;
    --) shift; layers+=("$@"); break ;;
    -*) die "unknown option $1" ;;
    *) layers+=("$1"); shift ;;
  esac
done
[[ -n "$out" ]] || die "--out is required"
[[ -n "$name" && "$name" == *:* ]] || die "--name REPO:TAG is required"
[[ ${#layers[@]} -gt 0 ]] || die "at least one layer directory is required"
[[ -n "${SOURCE_DATE_EPOCH:-}" && "$SOURCE_DATE_EPOCH" =~ ^[0-9]+$ ]] ||
  die "SOURCE_DATE_EPOCH must be set to a Unix time"
jq -e 'type == "object"' <<<"$config" >/dev/null || die "--config must be a JSON object"
layer_epoch() { # LAYER_DIR[@EPOCH] -> EPOCH (default SOURCE_DATE_EPOCH)
  if [[ "$1" =~ @([0-9]+)$ ]]; then echo "${BASH_REMATCH[1]}"; else echo "$SOURCE_DATE_EPOCH"; fi
}
layer_dir() { # LAYER_DIR[@EPOCH] -> LAYER_DIR
  if [[ "$1" =~ @[0-9]+$ ]]; then echo "${1%@*}"; else echo "$1"; fi
}
for layer in "${layers[@]}"; do
  [[ -d "$(layer_dir "$layer")" ]] || die "layer directory $(layer_dir "$layer") does not exist"
done

export LC_ALL=C TZ=UTC
epoch="$SOURCE_DATE_EPOCH"
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
tag="${name##*:}"

work=$(mktemp -d "${TMPDIR:-/tmp}/oci-assemble.XXXXXX")
trap 'rm -rf "$work"' EXIT
layout="$work/layout"
mkdir -p "$layout/blobs/sha256"

# Deterministic tar of a directory's contents, entry names relative to it.
reproducible_tar() {
  local dir="$1" mtime="$2"
  (cd "$dir" && find . -mindepth 1 -printf '%P\n' | sort) >"$work/list"
  tar -C "$dir" --create --file=- --no-recursion --verbatim-files-from --files-from="$work/list" \
    --format=posix --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime' \
    --mtime="@$mtime" --numeric-owner --sort=none
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

blob() { # moves a file into blobs/ and prints its digest
  local digest
  digest=$(sha256 "$1")
  mv "$1" "$layout/blobs/sha256/$digest"
  echo "$digest"
}

label_json=$(for kv in "${labels[@]+"${labels[@]}"}"; do
  [[ "$kv" == *=* ]] || die "--label $kv is not KEY=VALUE"
  jq -n --arg k "${kv%%=*}" --arg v "${kv#*=}" '{($k): $v}'
done | jq -s 'add // {}')

diff_ids=() layer_descriptors=()
for layer in "${layers[@]}"; do
  reproducible_tar "$(layer_dir "$layer")" "$(layer_epoch "$layer")" >"$work/layer.tar"
  diff_id=$(sha256 "$work/layer.tar")
  diff_ids+=("sha256:$diff_id")
  cached="${OCI_LAYER_CACHE:-}/$diff_id.tar.gz"
  if [[ -n "${OCI_LAYER_CACHE:-}" && -f "$cached" ]]; then
    cp "$cached" "$work/layer.tar.gz"
  else
    gzip -n -c "$work/layer.tar" >"$work/layer.tar.gz"
    if [[ -n "${OCI_LAYER_CACHE:-}" ]]; then
      mkdir -p "$OCI_LAYER_CACHE"
      cp "$work/layer.tar.gz" "$cached.tmp" && mv "$cached.tmp" "$cached"
    fi
  fi
  rm "$work/layer.tar"
  size=$(stat -c %s "$work/layer.tar.gz")
  digest=$(blob "$work/layer.tar.gz")
  layer_descriptors+=("$(jq -cn --arg d "sha256:$digest" --argjson s "$size" \
    '{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $d, size: $s}')")
done

jq -cjn --arg created "$created" --argjson config "$config" --argjson labels "$label_json" \
  --args '{
    created: $created,
    architecture: "amd64",
    os: "linux",
    config: ($config + (if $labels == {} then {} else {Labels: (($config.Labels // {}) + $labels)} end)),
    rootfs: {type: "layers", diff_ids: $ARGS.positional},
    history: [$ARGS.positional[] | {created: $created, created_by: "image/oci-assemble.sh"}]
  }' "${diff_ids[@]}" >"$work/config.json"
config_size=$(stat -c %s "$work/config.json")
config_digest=$(blob "$work/config.json")

printf '%s\n' "${layer_descriptors[@]}" | jq -cjs --arg d "sha256:$config_digest" \
  --argjson s "$config_size" --argjson labels "$label_json" '{
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $d, size: $s},
    layers: .
  } + (if $labels == {} then {} else {annotations: $labels} end)' >"$work/manifest.json"
manifest_size=$(stat -c %s "$work/manifest.json")
manifest_digest=$(blob "$work/manifest.json")

jq -cjn --arg d "sha256:$manifest_digest" --argjson s "$manifest_size" \
  --arg tag "$tag" --arg name "$name" '{
    schemaVersion: 2,
    manifests: [{
      mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s,
      annotations: {"org.opencontainers.image.ref.name": $tag, "io.containerd.image.name": $name}
    }]
  }' >"$layout/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"

# The layout's own files belong to root, whoever runs this.
chmod -R u=rwX,go=rX "$layout"
mkdir -p "$(dirname "$out")"
(cd "$layout" && find . -mindepth 1 -printf '%P\n' | sort) >"$work/list"
tar -C "$layout" --create --file="$work/archive.tar" --no-recursion --verbatim-files-from \
  --files-from="$work/list" --format=posix \
  --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime' \
  --mtime="@$epoch" --owner=0 --group=0 --numeric-owner
mv "$work/archive.tar" "$out"
echo "sha256:$manifest_digest"
