#!/usr/bin/env bash
# make image: build the worker image from the Dockerfile, unchanged.
# - With a Docker engine: `docker buildx bake` on docker-bake.hcl, loaded into the local engine.
# - Without one (this project's machines): podman with chroot isolation (no cgroups needed) and the
#   docker image format (OCI drops SHELL, so RUN steps would lose pipefail), every
#   stage's BASE_IMAGE swapped for a Debian rootfs of the same release made by debootstrap and
#   imported once (cached in podman's store and as a tarball in .cache/image). podman and debootstrap
#   are installed when missing. pip's CA bundle goes in as the `pip_cert` build secret.
# SKIP_WEIGHTS=1 leaves the public weights (GitHub downloads) out; unset, it is chosen by whether
# GitHub answers. Prints the image's size and the build's time; writes both to .cache/image/build.env.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${IMAGE_TAG:-localhost/watermark-remover-worker:dev}
cache=.cache/image
mkdir -p "$cache"
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if [ -z "${SKIP_WEIGHTS:-}" ]; then
  if curl -fsI --max-time 10 https://github.com >/dev/null 2>&1; then SKIP_WEIGHTS=0; else
    SKIP_WEIGHTS=1
    echo "image: GitHub is unreachable: building without the public weights (SKIP_WEIGHTS=1)" >&2
  fi
fi
export SKIP_WEIGHTS

start=$(date +%s)
if docker info >/dev/null 2>&1 && docker buildx version >/dev/null 2>&1; then
  engine=docker
  docker buildx bake --load --set "worker.tags=$tag" worker
  size=$(docker image inspect --format '{{.Size}}' "$tag")
else
  engine=podman
  if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
    echo "image: installing podman and debootstrap" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends podman debootstrap >/dev/null
  fi
  # The Dockerfile's default base (debian:<release>-slim) names the release to bootstrap.
  release=$(sed -n 's/^ARG BASE_IMAGE=debian:\([a-z]*\).*/\1/p' Dockerfile)
  [ -n "$release" ] || { echo "image: the Dockerfile's BASE_IMAGE default is not a debian:<release> image" >&2; exit 1; }
  base=localhost/debian:$release
  if ! podman image exists "$base"; then
    if [ ! -s "$cache/$release.tar" ]; then
      echo "image: making a Debian $release rootfs with debootstrap" >&2
      mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
      rootfs=$(mktemp -d)
      as_root debootstrap --variant=minbase "$release" "$rootfs" "${mirror:-http://deb.debian.org/debian}" >/dev/null
      as_root tar -C "$rootfs" -cf "$cache/$release.tar.part" . && mv "$cache/$release.tar.part" "$cache/$release.tar"
      as_root rm -rf "$rootfs"
    fi
    # What Docker Hub's debian images set, so the stand-in's ENV and CMD match theirs.
    podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["bash"]' "$cache/$release.tar" "$base" >/dev/null
  fi
  secret=()
  cert=$(pip config get global.cert 2>/dev/null || true)
  cert=${PIP_CERT:-$cert}
  if [ -n "$cert" ] && [ -s "$cert" ]; then secret=(--secret "id=pip_cert,src=$cert"); fi
  podman build --isolation chroot --format docker --jobs 2 --target runtime --build-arg "BASE_IMAGE=$base" \
    --build-arg "SKIP_WEIGHTS=$SKIP_WEIGHTS" "${secret[@]}" -t "$tag" .
  size=$(podman image inspect --format '{{.Size}}' "$tag")
fi
seconds=$(( $(date +%s) - start ))
printf 'engine=%s\ntag=%s\nsize_bytes=%s\nbuild_seconds=%s\nskip_weights=%s\n' \
  "$engine" "$tag" "$size" "$seconds" "$SKIP_WEIGHTS" > "$cache/build.env"
echo "image: built $tag with $engine in ${seconds} s; size $(( size / 1000000 )) MB"
