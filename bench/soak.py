"""Soak: 30 sequential and 4 concurrent jobs through RunPod's local API, with real S3 (moto) and HTTP.

Checks every result (the presigned URL is fetched and probed), the API server's RSS growth from the
5th job to the end, and that the temp area is empty afterwards.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import requests

from app.media.probe import probe
from scripts.footage import composite, logo_rgba, pan_frames, write_clip
from scripts.servers import file_server, moto_server, runpod_api

SEQUENTIAL, CONCURRENT = 30, 4
KEY, SECRET, BUCKET = "AKIDSOAK", "soak-secret", "soak"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def run(work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    clip = work / "soak.mp4"
    if not clip.exists():
        logo = logo_rgba(64)
        write_clip((composite(f, logo, 20, 20, 0.8) for f in pan_frames("building.jpg", (640, 360), 75, 25)), clip, 25)
    frames = probe(clip).frames
    temp = Path(tempfile.mkdtemp(prefix="soak-temp-"))
    try:
        with moto_server() as s3_url, file_server(work) as http_url:
            boto3.client("s3", endpoint_url=s3_url, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                         region_name="us-east-1").create_bucket(Bucket=BUCKET)
            env = {"BUCKET_ENDPOINT_URL": s3_url, "BUCKET_ACCESS_KEY_ID": KEY, "BUCKET_SECRET_ACCESS_KEY": SECRET,
                   "BUCKET_NAME": BUCKET, "ALLOW_PRIVATE_URLS": "1", "TEMP_DIR": str(temp)}
            with runpod_api(env) as (api, pid):
                job = {"input": {"video_url": f"{http_url}/soak.mp4"}}

                def one(_: int) -> tuple[bool, float]:
                    started = time.perf_counter()
                    answer = requests.post(f"{api}/runsync", json=job, timeout=600).json()
                    ok = answer.get("status") == "COMPLETED"
                    if ok:
                        got = work / f"result-{time.perf_counter_ns()}.mp4"
                        got.write_bytes(requests.get(answer["output"]["video_url"], timeout=60).content)
                        ok = probe(got).frames == frames
                        got.unlink()
                    return ok, time.perf_counter() - started

                results, rss = [], {}
                for i in range(SEQUENTIAL):
                    results.append(one(i))
                    if i == 4:
                        rss["after_5"] = rss_mib(pid)
                with ThreadPoolExecutor(CONCURRENT) as pool:
                    results += list(pool.map(one, range(CONCURRENT)))
                rss["end"] = rss_mib(pid)
        leftovers = list(temp.iterdir())
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return {
        "jobs": len(results), "valid": sum(ok for ok, _ in results), "frames_per_job": frames,
        "seconds_per_job": round(sum(t for _, t in results[:SEQUENTIAL]) / SEQUENTIAL, 2),
        "rss_mib_after_5": round(rss["after_5"], 1), "rss_mib_end": round(rss["end"], 1),
        "rss_growth_pct": round(100 * (rss["end"] - rss["after_5"]) / rss["after_5"], 1),
        "temp_leftovers": len(leftovers),
    }


if __name__ == "__main__":
    print(json.dumps(run(Path("bench/work/soak")), indent=1))
