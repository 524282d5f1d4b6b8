"""Speed and cost per minute of video on a deployed endpoint: the figures a GPU makes, measured there.

    RUNPOD_API_KEY=... python -m bench.endpoint https://api.runpod.ai/v2/<endpoint-id> \\
        --price-per-second 0.00031 samples/sample.mp4 https://example.com/clip.mp4

Each input (a local file, sent inline as base64, or an http(s) URL: RunPod takes at most 10 MB per
request, so give larger clips as URLs) runs as one job: `/run`, then
`/status/<id>` until it ends. Seconds are RunPod's `executionTime` (what is billed) when the answer
has it, else the wall time from submit to end (RunPod's local API). Prints a Markdown table: seconds
of processing per minute of video, its cost at the given price, and the device, detector and
fallbacks each job reports. The API key is read from RUNPOD_API_KEY and never printed.
"""

from __future__ import annotations

import argparse
import base64
import os
import time
from dataclasses import dataclass
from pathlib import Path

import requests

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}


@dataclass(frozen=True)
class Measure:
    name: str
    video_seconds: float
    seconds: float
    timing: str
    device: str
    detector: str
    fallbacks: list[str]

    @property
    def seconds_per_video_minute(self) -> float:
        return self.seconds / self.video_seconds * 60


def job_input(source: str, inline_output: bool) -> dict:
    """A job for `source`: URLs are fetched by the worker, local files travel inline."""
    if source.startswith(("http://", "https://", "s3://")):
        job: dict = {"video_url": source}
    else:
        job = {"video_base64": base64.b64encode(Path(source).read_bytes()).decode()}
    if inline_output:
        job["return_base64"] = True
    return job


class Endpoint:
    """RunPod's serverless API (`/run`, `/status`), or the same routes served by `--rp_serve_api`."""

    def __init__(self, url: str, api_key: str | None, poll_seconds: float = 2.0, timeout_s: float = 3600.0) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"
        self.poll_seconds, self.timeout_s = poll_seconds, timeout_s
        self.status_method = "GET"

    def status(self, job_id: str) -> dict:
        """RunPod answers GET; the local API only POST: switch once on 405."""
        answer = self.session.request(self.status_method, f"{self.url}/status/{job_id}", timeout=self.timeout_s)
        if answer.status_code == 405 and self.status_method == "GET":
            self.status_method = "POST"
            return self.status(job_id)
        answer.raise_for_status()
        return answer.json()

    def run(self, job: dict) -> tuple[dict, float]:
        """The job's final status and the wall seconds from submit to end."""
        started = time.perf_counter()
        submitted = self.session.post(f"{self.url}/run", json={"input": job}, timeout=120)
        submitted.raise_for_status()
        state = submitted.json()
        while state.get("status") not in TERMINAL:
            if time.perf_counter() - started > self.timeout_s:
                raise TimeoutError(f"job {state.get('id')} still {state.get('status')} after {self.timeout_s:.0f}s")
            time.sleep(self.poll_seconds)
            state = self.status(state["id"])
        return state, time.perf_counter() - started


def measure(endpoint: Endpoint, source: str, inline_output: bool) -> Measure:
    state, wall = endpoint.run(job_input(source, inline_output))
    output = state.get("output") or {}
    if state["status"] != "COMPLETED" or "error" in output:
        raise RuntimeError(f"{source}: {state['status']}: {state.get('error') or output.get('error')}")
    executed = state.get("executionTime")
    seconds, timing = (executed / 1000, "executionTime") if executed else (wall, "wall")
    return Measure(Path(source).name, output["duration_s"], seconds, timing, output.get("device", "?"),
                   output["detector"], output["fallbacks"])


def table(measures: list[Measure], price_per_second: float | None) -> str:
    lines = ["| input | video s | processing s | s per video minute | cost per video minute | device | detector | fallbacks |",
             "|---|---|---|---|---|---|---|---|"]
    for m in measures:
        cost = f"${m.seconds_per_video_minute * price_per_second:.4f}" if price_per_second else "-"
        lines.append(f"| {m.name} | {m.video_seconds:.1f} | {m.seconds:.1f} ({m.timing}) | {m.seconds_per_video_minute:.1f} "
                     f"| {cost} | {m.device} | {m.detector} | {'; '.join(m.fallbacks) or '-'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="https://api.runpod.ai/v2/<endpoint-id>, or http://127.0.0.1:8000 for --rp_serve_api")
    parser.add_argument("inputs", nargs="+", help="local video files (sent inline) or http(s)/s3 URLs")
    parser.add_argument("--price-per-second", type=float, help="the endpoint's GPU price, USD per second")
    parser.add_argument("--inline-output", action="store_true", help="ask for the result inline (no bucket configured)")
    args = parser.parse_args(argv)
    endpoint = Endpoint(args.url, os.environ.get("RUNPOD_API_KEY"))
    print(table([measure(endpoint, source, args.inline_output) for source in args.inputs], args.price_per_second))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
