#!/usr/bin/env bash
# Build the Dockerfile's ffmpeg stage without a Docker engine and print the folder holding its
# ffmpeg and ffprobe: the same upstream sources (ffmpeg and NVENC's nv-codec-headers, taken from
# Debian's source packages) configured with the Dockerfile's own configure line. `make test` runs
# the media tests again with it, so the image's ffmpeg is tested, not only Debian's 5.1.
# Cached in .cache/ffmpeg-stage by the ffmpeg and headers versions and the configure line.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

flags=$(sed -n '/\.\/configure/,/make -j/p' "$root/Dockerfile" | tr '\\\n' '  ' | sed 's/.*\.\/configure//; s/&&.*//')
wanted=$(sed -n 's/^ARG FFMPEG_VERSION=//p' "$root/Dockerfile")
headers_wanted=$(sed -n 's/^ARG NV_CODEC_HEADERS=//p' "$root/Dockerfile")
if [ -z "$flags" ] || [ -z "$wanted" ] || [ -z "$headers_wanted" ]; then
  echo "ffmpeg_stage: no configure line, FFMPEG_VERSION or NV_CODEC_HEADERS found in the Dockerfile" >&2
  exit 1
fi
out="$root/.cache/ffmpeg-stage/$(printf '%s %s %s' "$wanted" "$headers_wanted" "$flags" | sha256sum | cut -c1-12)"
if [ -x "$out/bin/ffmpeg" ] && [ -x "$out/bin/ffprobe" ]; then
  echo "$out/bin"
  exit 0
fi

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
# The ffmpeg stage's own package list (Ubuntu's and Debian's names agree for these).
read -r -a deps <<< "$(sed -n '/ AS ffmpeg$/,/^FROM /p' "$root/Dockerfile" | tr '\\\n' '  ' \
  | sed 's/.*--no-install-recommends//; s/&&.*//')"
if [ "${#deps[@]}" -eq 0 ]; then
  echo "ffmpeg_stage: no package list found in the Dockerfile's ffmpeg stage" >&2
  exit 1
fi
if ! dpkg -s "${deps[@]}" >/dev/null 2>&1; then
  echo "ffmpeg_stage: installing build dependencies" >&2
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${deps[@]}" >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
  > "$work/sources.list"
apt_private=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$work/lists")
apt-get "${apt_private[@]}" update -qq 2>/dev/null || { echo "ffmpeg_stage: apt-get update for Debian sources failed" >&2; exit 1; }
# Only the upstream tarballs are needed; a missing Debian patch file must not stop the build.
(cd "$work" && apt-get "${apt_private[@]}" source --download-only -qq ffmpeg nv-codec-headers >/dev/null 2>&1) || true
for package in ffmpeg nv-codec-headers; do
  if ! compgen -G "$work/${package}_*.orig.tar.xz" >/dev/null; then
    echo "ffmpeg_stage: could not fetch the $package source from Debian" >&2
    exit 1
  fi
done
tar -xf "$work"/ffmpeg_*.orig.tar.xz -C "$work"
tar -xf "$work"/nv-codec-headers_*.orig.tar.xz -C "$work"
source_dir=$(find "$work" -maxdepth 1 -type d -name 'ffmpeg-*' | head -1)
got=${source_dir##*/ffmpeg-}
if [ "$got" != "$wanted" ]; then
  echo "ffmpeg_stage: Debian has ffmpeg $got, the Dockerfile pins $wanted: building $got with the same flags" >&2
fi

headers_dir=$(find "$work" -maxdepth 1 -type d -name 'nv-codec-headers-*' | head -1)
if [ "${headers_dir##*/nv-codec-headers-}" != "$headers_wanted" ]; then
  echo "ffmpeg_stage: Debian has nv-codec-headers ${headers_dir##*/nv-codec-headers-}, the Dockerfile pins $headers_wanted" >&2
fi
make -C "$headers_dir" PREFIX="$work/headers" install >/dev/null
echo "ffmpeg_stage: building ffmpeg $got with:$flags" >&2
read -r -a configure_flags <<< "${flags//--prefix=\/opt\/ffmpeg/--prefix=$out}"
(
  cd "$source_dir"
  PKG_CONFIG_PATH="$work/headers/lib/pkgconfig" ./configure "${configure_flags[@]}" > "$work/configure.log" 2>&1 \
    || { tail -20 "$work/configure.log" >&2; exit 1; }
  make -j"$(nproc)" > "$work/make.log" 2>&1 || { tail -40 "$work/make.log" >&2; exit 1; }
  make install > /dev/null
)
echo "$out/bin"
