#!/usr/bin/env bash
# Build ffmpeg with NVENC and libx264 into PREFIX: the Dockerfile's ffmpeg stage runs it, and
# scripts/ffmpeg_stage.sh runs it on the host so `make test` tests the image's ffmpeg too.
# Sources are upstream ffmpeg and NVENC's nv-codec-headers taken from Debian's source packages,
# which every builder reaches (here, Debian's archive only; elsewhere, the internet). NVENC needs
# only the headers and, at run time, the driver's libraries: no CUDA toolkit. Static libav*, nothing
# autodetected, so the binary links the same few libraries wherever it is built.
# FFMPEG_VERSION and NV_CODEC_HEADERS (the Dockerfile's ARGs) name the versions expected; another
# version from Debian is built with the same flags, with a warning.
set -euo pipefail
prefix=${1:?usage: ffmpeg.sh PREFIX}
want=${FFMPEG_VERSION:?FFMPEG_VERSION not set}
headers_want=${NV_CODEC_HEADERS:?NV_CODEC_HEADERS not set}
deps=(build-essential ca-certificates nasm pkg-config xz-utils libx264-dev libmp3lame-dev libopus-dev zlib1g-dev)
flags=(--disable-autodetect --enable-gpl --enable-ffnvcodec --enable-nvenc --enable-cuda --enable-libx264
       --enable-libmp3lame --enable-libopus --enable-zlib --disable-doc --disable-debug --disable-ffplay)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! dpkg -s "${deps[@]}" >/dev/null 2>&1; then
  echo "ffmpeg.sh: installing build dependencies" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${deps[@]}" >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
  > "$work/sources.list"
apt_private=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$work/lists")
apt-get "${apt_private[@]}" update -qq >/dev/null 2>&1 || { echo "ffmpeg.sh: apt-get update for Debian's sources failed" >&2; exit 1; }
# Only the upstream tarballs are needed; a missing Debian patch file must not stop the build.
(cd "$work" && apt-get "${apt_private[@]}" source --download-only -qq ffmpeg nv-codec-headers >/dev/null 2>&1) || true
for package in ffmpeg nv-codec-headers; do
  if ! compgen -G "$work/${package}_*.orig.tar.xz" >/dev/null; then
    echo "ffmpeg.sh: could not fetch the $package source from Debian" >&2
    exit 1
  fi
done
tar -xf "$work"/ffmpeg_*.orig.tar.xz -C "$work"
tar -xf "$work"/nv-codec-headers_*.orig.tar.xz -C "$work"
source_dir=$(find "$work" -maxdepth 1 -type d -name 'ffmpeg-*' | head -1)
headers_dir=$(find "$work" -maxdepth 1 -type d -name 'nv-codec-headers-*' | head -1)
got=${source_dir##*/ffmpeg-}
headers_got=${headers_dir##*/nv-codec-headers-}
[ "$got" = "$want" ] || echo "ffmpeg.sh: Debian has ffmpeg $got, $want was expected: building $got" >&2
[ "$headers_got" = "$headers_want" ] || echo "ffmpeg.sh: Debian has nv-codec-headers $headers_got, $headers_want was expected" >&2

make -C "$headers_dir" PREFIX="$work/headers" install >/dev/null
echo "ffmpeg.sh: building ffmpeg $got (nv-codec-headers $headers_got) into $prefix" >&2
(
  cd "$source_dir"
  PKG_CONFIG_PATH="$work/headers/lib/pkgconfig" ./configure --prefix="$prefix" "${flags[@]}" > "$work/configure.log" 2>&1 \
    || { tail -20 "$work/configure.log" >&2; exit 1; }
  make -j"$(nproc)" > "$work/make.log" 2>&1 || { tail -40 "$work/make.log" >&2; exit 1; }
  make install > /dev/null
)
"$prefix/bin/ffmpeg" -hide_banner -version | head -1 >&2
