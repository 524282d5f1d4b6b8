#!/usr/bin/env bash
# make image-test: checks the built image (make image) from the inside, offline: the whole script runs
# in a fresh network namespace with only loopback, so nothing inside may download anything.
# - its ffmpeg lists the h264_nvenc and libx264 encoders;
# - the shipped detector weights load (and every model the worker warms up);
# - the image's own CMD, with its own ENV and WORKDIR, runs test_input.json to COMPLETED on the CPU;
# - a job through RunPod's local API (--rp_serve_api) comes back COMPLETED with the cleaned video;
# - prints the image's size, the build's time (from make image) and the cold start (importing handler.py).
# With a Docker engine each check is a `docker run --network none`; without one (podman's containers
# do not start here: no cgroups) the image's root is mounted with `podman mount` and entered with chroot.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${IMAGE_TAG:-localhost/watermark-remover-worker:dev}
if [ -z "${IMAGE_TEST_OFFLINE:-}" ]; then
  # shellcheck disable=SC2016  # expanded by the inner bash
  exec unshare --net env IMAGE_TEST_OFFLINE=1 bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi
[ -s samples/sample.mp4 ] || { echo "image-test: samples/sample.mp4 missing (make setup makes it)" >&2; exit 1; }

if docker info >/dev/null 2>&1; then
  engine=docker
  cmd_json=$(docker image inspect --format '{{json .Config.Cmd}}' "$tag")
  in_image() {  # in_image [VAR=value ...] command...
    local envs=()
    while [ $# -gt 0 ] && [[ $1 == *=* ]]; do envs+=(-e "$1"); shift; done
    docker run --rm --network none "${envs[@]}" -v "$PWD/samples:/worker/samples:ro" "$tag" "$@"
  }
else
  engine=podman
  inspect() { podman image inspect --format "$1" "$tag"; }
  cmd_json=$(inspect '{{json .Config.Cmd}}')
  workdir=$(inspect '{{.Config.WorkingDir}}')
  mapfile -t image_env < <(inspect '{{range .Config.Env}}{{println .}}{{end}}' | sed '/^$/d')
  cid=$(podman create "$tag")
  root=$(podman mount "$cid")
  cleanup() {
    umount -R "$root/dev" 2>/dev/null || true
    umount "$root/proc" 2>/dev/null || true
    podman umount "$cid" >/dev/null || true
    podman rm "$cid" >/dev/null || true
  }
  trap cleanup EXIT
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  mkdir -p "$root$workdir/samples"
  cp samples/sample.mp4 "$root$workdir/samples/"
  in_image() {  # in_image [VAR=value ...] command...: the image's ENV and WORKDIR, then the command
    local envs=()
    while [ $# -gt 0 ] && [[ $1 == *=* ]]; do envs+=("$1"); shift; done
    # shellcheck disable=SC2016  # expanded by the image's sh
    env -i "${image_env[@]}" HOME=/root "${envs[@]}" chroot "$root" /bin/sh -c 'cd "$0" && exec "$@"' "$workdir" "$@"
  }
fi
mapfile -t cmd < <(python3 -c 'import json, sys; print("\n".join(json.loads(sys.argv[1])))' "$cmd_json")
echo "image-test: $tag ($engine), CMD ${cmd[*]}"

encoders=$(in_image ffmpeg -hide_banner -encoders)
for encoder in h264_nvenc libx264; do
  grep -q " $encoder " <<< "$encoders" || { echo "image-test: FAIL: ffmpeg has no $encoder encoder" >&2; exit 1; }
done
echo "image-test: ffmpeg $(in_image ffmpeg -hide_banner -version | head -1 | cut -d' ' -f3) lists h264_nvenc and libx264"

in_image python -c '
from app.config import Settings
from app.detection.text import load_watermark_model
from app.models import load_configured_models, watermark_weights
settings = Settings()
weights = watermark_weights(settings)
assert weights is not None and weights.is_file(), "no shipped watermark detector"
load_watermark_model(weights)
load_configured_models(settings, "cpu")
print(f"image-test: the shipped detector {weights} and every configured model load offline")
'

started=$(date +%s.%N)
in_image python -c 'import handler' > /dev/null 2>&1
cold=$(python3 -c "import time; print(round(time.time() - $started, 1))")
echo "image-test: cold start (python imports handler: libraries, GPU probe, every model loaded) ${cold} s"

started=$(date +%s.%N)
log=$(mktemp)
if ! in_image ALLOW_LOCAL_FILES=1 "${cmd[@]}" > "$log" 2>&1; then
  tail -40 "$log" >&2
  echo "image-test: FAIL: the image's CMD did not complete test_input.json" >&2
  exit 1
fi
grep -q "Job local_test completed successfully" "$log" \
  || { tail -40 "$log" >&2; echo "image-test: FAIL: no completed job in the CMD's output" >&2; exit 1; }
frames=$(grep -o "'frames': [0-9]*" "$log" | head -1 | grep -o '[0-9]*$')
echo "image-test: CMD ran test_input.json to COMPLETED ($frames frames) in $(python3 -c "import time; print(round(time.time() - $started, 1))") s"
rm -f "$log"

in_image ALLOW_LOCAL_FILES=1 python -c '
import base64, json, subprocess, sys, time, urllib.request
server = subprocess.Popen([sys.executable, "-u", "handler.py", "--rp_serve_api", "--rp_api_host", "127.0.0.1",
                           "--rp_api_port", "8000"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
try:
    for _ in range(240):
        try:
            urllib.request.urlopen("http://127.0.0.1:8000/docs", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    clip = base64.b64encode(open("samples/sample.mp4", "rb").read()).decode()
    job = {"input": {"video_base64": clip, "return_base64": True}}
    request = urllib.request.Request("http://127.0.0.1:8000/runsync", data=json.dumps(job).encode(),
                                     headers={"Content-Type": "application/json"})
    answer = json.load(urllib.request.urlopen(request, timeout=600))
    output = answer.get("output") or {}
    assert answer.get("status") == "COMPLETED", answer.get("error") or answer
    assert output.get("frames", 0) > 0 and len(base64.b64decode(output["video_base64"])) > 1000, output.keys()
    frames, device = output["frames"], output.get("device")
    print(f"image-test: local API job COMPLETED: {frames} frames on {device}")
finally:
    server.terminate()
    server.wait(30)
'

size=$(if [ "$engine" = docker ]; then docker image inspect --format '{{.Size}}' "$tag"; else podman image inspect --format '{{.Size}}' "$tag"; fi)
build=$(sed -n 's/^build_seconds=//p' .cache/image/build.env 2>/dev/null || true)
echo "image-test: PASS: image size $(( size / 1000000 )) MB; build time ${build:-unknown} s (make image); cold start ${cold} s"
