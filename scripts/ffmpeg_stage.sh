#!/usr/bin/env bash
# The Dockerfile's ffmpeg stage without a container engine: runs the stage's own build script
# (docker/ffmpeg.sh) with the Dockerfile's versions and prints the folder holding its ffmpeg and
# ffprobe. `make test` runs the media tests again with it, so the image's ffmpeg is tested, not only
# Debian's 5.1. Cached in .cache/ffmpeg-stage by the script and the versions.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

FFMPEG_VERSION=$(sed -n 's/^ARG FFMPEG_VERSION=//p' "$root/Dockerfile")
NV_CODEC_HEADERS=$(sed -n 's/^ARG NV_CODEC_HEADERS=//p' "$root/Dockerfile")
if [ -z "$FFMPEG_VERSION" ] || [ -z "$NV_CODEC_HEADERS" ]; then
  echo "ffmpeg_stage: no FFMPEG_VERSION or NV_CODEC_HEADERS found in the Dockerfile" >&2
  exit 1
fi
export FFMPEG_VERSION NV_CODEC_HEADERS
out="$root/.cache/ffmpeg-stage/$( (cat "$root/docker/ffmpeg.sh"; echo "$FFMPEG_VERSION $NV_CODEC_HEADERS") | sha256sum | cut -c1-12)"
if [ ! -x "$out/bin/ffmpeg" ] || [ ! -x "$out/bin/ffprobe" ]; then
  bash "$root/docker/ffmpeg.sh" "$out"
fi
echo "$out/bin"
