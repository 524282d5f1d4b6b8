#!/usr/bin/env bash
# Build the worker image with docker buildx bake and push it; print the digest and the image name
# to paste into the RunPod template. Touches no other container, image or cache unless --prune is given.
set -euo pipefail
cd "$(dirname "$0")"

prune=0
for arg in "$@"; do
  case "$arg" in
    --prune) prune=1 ;;
    -h|--help) echo "usage: REGISTRY=... IMAGE=... $0 [--prune]   (--prune: remove dangling build cache afterwards)"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

version=$(sed -n '/variable "RELEASE_VERSION"/,/}/s/.*default *= *"\(.*\)".*/\1/p' docker-bake.hcl)
registry=${REGISTRY:-$(sed -n '/variable "REGISTRY"/,/}/s/.*default *= *"\(.*\)".*/\1/p' docker-bake.hcl)}
image=${IMAGE:-$(sed -n '/variable "IMAGE"/,/}/s/.*default *= *"\(.*\)".*/\1/p' docker-bake.hcl)}
if [ -z "$version" ]; then
  echo "could not read RELEASE_VERSION from docker-bake.hcl" >&2
  exit 1
fi
ref="${registry}/${image}:${version}"
echo "Building and pushing ${ref} (and :latest)"
REGISTRY="$registry" IMAGE="$image" RELEASE_VERSION="$version" docker buildx bake --push worker

digest=$(docker buildx imagetools inspect "$ref" --format '{{json .Manifest.Digest}}' | tr -d '"')
echo "Pushed: ${ref}"
echo "Digest: ${digest}"
echo "RunPod template image: ${registry}/${image}@${digest}"

if [ "$prune" -eq 1 ]; then
  docker buildx prune --force --filter until=24h
fi
