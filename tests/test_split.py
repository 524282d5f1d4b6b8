"""Splitting a long video across the endpoint's own workers, through real servers on loopback: the
parent and the child are each `handler.py` behind RunPod's local API, the SDK's endpoint client reaches
the child through a queue that stands where RunPod's does, and the parts travel through moto's S3."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import boto3
import cv2
import numpy as np
import pytest
import requests

from app.media.probe import probe
from app.media.reader import read_frames
from app.split.children import SplitError, run_children
from app.split.plan import plan_parts
from scripts.footage import clip_frames, composite, mark_box, text_rgba, write_clip
from scripts.servers import moto_server, runpod_api, runpod_queue

KEY_ID, SECRET, BUCKET = "AKIDSPLIT", "split-secret-value-456", "results"
ENDPOINT, API_KEY = "ep-test", "rp-test-key"
SIZE, FPS, FRAMES, JUMP = (384, 288), 10, 600, 300  # 60 s; the mark jumps at the middle part boundary


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[tuple[int, int, int, int]]]:
    """60 s of vtest.avi (fixed camera, people walking) with a tone and a keyframe every 5 s, under
    semi-transparent text that jumps from the top-left to the bottom-right corner at frame 300; and the
    same frames without the mark."""
    root = tmp_path_factory.mktemp("split")
    mark = text_rgba("STOCK", 26)
    spots = [(16, 14), (SIZE[0] - mark.shape[1] - 16, SIZE[1] - mark.shape[0] - 14)]
    clean = [cv2.resize(f, SIZE, interpolation=cv2.INTER_AREA) for f in clip_frames("vtest.avi", FRAMES)]
    marked = root / "long.mp4"
    write_clip((composite(f, mark, *spots[i >= JUMP], 0.6) for i, f in enumerate(clean)), marked, FPS, keyint=50)
    original = root / "clean.mkv"
    write_clip(iter(clean), original, FPS, audio=False, lossless=True)
    return marked, original, [mark_box(mark, *spot) for spot in spots]


@pytest.fixture(scope="module")
def s3_endpoint() -> str:
    with moto_server() as url:
        yield url


def s3_client(url: str):
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                        region_name="us-east-1")


def worker_env(s3_url: str, queue_url: str = "") -> dict[str, str]:
    return {"BUCKET_ENDPOINT_URL": s3_url, "BUCKET_ACCESS_KEY_ID": KEY_ID, "BUCKET_SECRET_ACCESS_KEY": SECRET,
            "BUCKET_NAME": BUCKET, "ALLOW_PRIVATE_URLS": "1", "ALLOW_LOCAL_FILES": "1",
            "RUNPOD_ENDPOINT_ID": ENDPOINT, "RUNPOD_API_KEY": API_KEY, "RUNPOD_ENDPOINT_BASE_URL": queue_url,
            "SPLIT_POLL_SECONDS": "0.3"}


@pytest.fixture(scope="module")
def servers(s3_endpoint: str):
    """The child worker (its local API) and a parent worker whose SDK endpoint client reaches the child
    through the queue; yields (parent URL, child URL, queue) with the queue's faults settable per test."""
    s3_client(s3_endpoint).create_bucket(Bucket=BUCKET)
    with runpod_api(worker_env(s3_endpoint)) as (child, _), runpod_queue(child, ENDPOINT, API_KEY) as (qurl, queue), \
            runpod_api(worker_env(s3_endpoint, qurl)) as (parent, _):
        yield parent, child, queue


def frames_of(path: Path) -> np.ndarray:
    return np.stack(list(read_frames(probe(path))))


def packet_times(path: Path, stream: str) -> list[str]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", "packet=pts_time",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout
    return sorted((line.split(",")[0] for line in out.split()), key=float)


def fetch(url: str, path: Path) -> Path:
    path.write_bytes(requests.get(url, timeout=60).content)
    return path


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_parts_are_whole_gops_with_overlap_and_cover_every_frame_once() -> None:
    keys = list(range(0, 600, 50))
    parts = plan_parts(keys, 600, 4, overlap=30)
    assert [p.first + p.keep_first for p in parts] == [0, 150, 300, 450]
    assert sum(p.keep_frames for p in parts) == 600
    for part in parts:
        assert part.first in keys and (part.end in keys or part.end == 600)
        assert part.keep_first >= min(30, part.first + part.keep_first)
    assert len(plan_parts([0], 600, 4, overlap=30)) == 1  # one GOP: nothing to cut


def test_split_in_four_matches_a_single_run(servers, long_clip, s3_endpoint: str, tmp_path: Path) -> None:
    """Same frames, duration, audio and timestamps as one worker's run; at least 45 dB PSNR against it
    over all frames (the parts are encoded with the single run's IDR frames and enough lead-in for x264 to
    make its decisions: two encodes of the same frames from different starts gave 40 dB; the last part
    gets the picture of the mark's second spot from before the jump, which it never sees but the single
    run remembers: without it the whole video gave 39.7 dB); no seam at the joins; the mark is removed on
    both sides of the boundary it jumps at."""
    parent, child, queue = servers
    marked, original, boxes = long_clip
    job = {"video_url": str(marked), "watermark_config": {"detector": "auto"}}
    single = requests.post(f"{child}/runsync", json={"input": job}, timeout=900).json()
    assert single["status"] == "COMPLETED", single
    split = requests.post(f"{parent}/runsync", json={"input": {**job, "split": {"parts": 4}}}, timeout=1800).json()
    assert split["status"] == "COMPLETED", split
    out = split["output"]
    assert out["split"]["parts"] == 4 and all(j["attempts"] == 1 for j in out["split"]["jobs"])
    one, four = fetch(single["output"]["video_url"], tmp_path / "one.mp4"), fetch(out["video_url"], tmp_path / "four.mp4")
    a, b = probe(one), probe(four)
    assert (b.frames, b.fps_rational, b.has_audio, b.audio_codec) == (a.frames, a.fps_rational, True, a.audio_codec)
    assert abs(b.duration_s - a.duration_s) < 0.001
    assert packet_times(four, "v:0") == packet_times(one, "v:0")
    assert packet_times(four, "a:0") == packet_times(one, "a:0")
    x, y = frames_of(one).astype(np.int16), frames_of(four).astype(np.int16)
    clean, source = frames_of(original).astype(np.int16), frames_of(marked).astype(np.int16)
    assert psnr(x, y) >= 45.0, (psnr(x, y), [psnr(x[k:k + 150], y[k:k + 150]) for k in range(0, FRAMES, 150)])
    away = np.ones(x.shape[1:3], bool)
    for x1, y1, x2, y2 in boxes:
        away[max(0, y1 - 24): y2 + 24, max(0, x1 - 24): x2 + 24] = False
    steps = np.abs(np.diff(y[:, away], axis=0)).mean(axis=(1, 2))  # steps[i]: frame i -> i + 1, away from the marks
    seams = np.cumsum([j["frames"] for j in out["split"]["jobs"]])[:-1] - 1
    assert steps[seams].max() <= np.percentile(steps, 99), (steps[seams], np.percentile(steps, 99))
    assert out["watermark_frames"] == single["output"]["watermark_frames"] == FRAMES  # found in every frame
    for frame, (x1, y1, x2, y2) in ((JUMP - 1, boxes[0]), (JUMP, boxes[1])):
        def left(video: np.ndarray) -> float:
            return float(np.abs(video[frame, y1:y2, x1:x2] - clean[frame, y1:y2, x1:x2]).mean())

        assert left(y) < 0.7 * left(source) and left(y) <= 1.5 * left(x) + 1, (frame, left(y), left(x), left(source))
    assert not [key for key in leftovers(s3_endpoint, BUCKET) if "/split-" in f"/{key}"]


def leftovers(url: str, bucket: str) -> list[str]:
    return [o["Key"] for o in s3_client(url).list_objects_v2(Bucket=bucket).get("Contents", [])]


def fast_job(clip: Path, bucket: str, s3_url: str) -> dict:
    """A split job with given regions (no detection: the faults are what is tested) into its own bucket."""
    s3_client(s3_url).create_bucket(Bucket=bucket)
    return {"video_url": str(clip), "split": {"parts": 4}, "watermark_config": {"regions": [[16, 14, 120, 32]]},
            "s3Config": {"accessId": KEY_ID, "accessSecret": SECRET, "bucketName": bucket, "endpointUrl": s3_url}}


def test_a_child_that_fails_once_is_retried_and_the_job_completes(servers, long_clip, s3_endpoint: str) -> None:
    parent, _, queue = servers
    queue.faults = {1: 1}
    done = requests.post(f"{parent}/runsync", json={"input": fast_job(long_clip[0], "retry", s3_endpoint)},
                         timeout=1800).json()
    assert done["status"] == "COMPLETED", done
    jobs = done["output"]["split"]["jobs"]
    assert [j["attempts"] for j in jobs] == [1, 2, 1, 1] and "job was lost" in jobs[1]["errors"][0]
    assert done["output"]["frames"] == FRAMES
    assert leftovers(s3_endpoint, "retry") == [done["output"]["s3_key"]]  # the result, and no part


def test_a_child_that_always_fails_fails_the_parent_and_cancels_the_others(servers, long_clip,
                                                                           s3_endpoint: str) -> None:
    parent, _, queue = servers
    queue.faults = {2: 9}
    before = set(queue.order)
    done = requests.post(f"{parent}/runsync", json={"input": fast_job(long_clip[0], "fail", s3_endpoint)},
                         timeout=1800).json()
    assert done["status"] == "FAILED"
    assert "part 3 of 4 failed 2 times" in done["error"] and "job was lost" in done["error"]
    mine = [queue.jobs[j] for j in queue.order if j not in before]
    assert sorted(j["status"] for j in mine if j["part"] == 2) == ["FAILED", "FAILED"]
    others = [j for j in mine if j["part"] != 2]
    assert any(j["status"] == "CANCELLED" for j in others), [(j["part"], j["status"]) for j in others]
    assert leftovers(s3_endpoint, "fail") == []


def test_splitting_without_an_api_key_is_refused_saying_what_to_configure(s3_endpoint: str, long_clip) -> None:
    env = {**worker_env(s3_endpoint), "RUNPOD_API_KEY": ""}
    with runpod_api(env) as (api, _):
        done = requests.post(f"{api}/runsync", json={"input": {"video_url": str(long_clip[0]), "split": {"parts": 4}}},
                             timeout=300).json()
    assert done["status"] == "FAILED" and "RUNPOD_API_KEY" in done["error"], done
    assert json.dumps(done).count(SECRET) == 0


class StuckQueue:
    """An endpoint whose jobs never end: what a child lost without a word looks like to the parent."""

    endpoint_id = "stuck"

    def __init__(self) -> None:
        self.submitted: list[str] = []
        self.cancelled: list[str] = []

    def submit(self, job_input: dict, timeout_s: float) -> str:
        self.submitted.append(f"job-{len(self.submitted)}")
        return self.submitted[-1]

    def status(self, job_id: str) -> dict:
        return {"id": job_id, "status": "CANCELLED" if job_id in self.cancelled else "IN_PROGRESS"}

    def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)


def test_a_child_with_no_result_in_time_is_cancelled_retried_once_then_fails_the_parent() -> None:
    queue = StuckQueue()
    with pytest.raises(SplitError, match=r"part 1 of 2 failed 2 times; last error: no result within 0s"):
        run_children(queue, [{"part": 0}, {"part": 1}], part_timeout_s=0.2, deadline=time.monotonic() + 30,
                     poll_s=0.05, progress=lambda done, of: None)
    assert len(queue.submitted) == 4  # both parts, then each once more
    assert set(queue.submitted) == set(queue.cancelled)  # every one of them cancelled


def test_the_parent_never_waits_past_its_deadline() -> None:
    queue = StuckQueue()
    started = time.monotonic()
    with pytest.raises(SplitError, match="passed its deadline with 2 of 2 parts unfinished"):
        run_children(queue, [{}, {}], part_timeout_s=3600, deadline=started + 0.5, poll_s=0.05,
                     progress=lambda done, of: None)
    assert time.monotonic() - started < 5 and set(queue.cancelled) == set(queue.submitted)
