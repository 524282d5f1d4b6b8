"""Speed and memory of the weights-free path on real footage.

vtest.avi (fixed camera, 768x576, 10 fps) looped to 20 s with opencv's logo composited on;
the end-to-end CLI run is timed against the bare libx264 transcode with the same settings,
measured in the same run; peak RSS is compared for a 10 s and a 60 s input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.measure import run_measured
from scripts.footage import ROOT, clip_frames, composite, logo_rgba, write_clip

WORK = ROOT / "bench" / "work"
BARE = ["-c:v", "libx264", "-preset", "slow", "-crf", "16", "-tune", "film", "-pix_fmt", "yuv420p"]


def looped_vtest(seconds: int) -> Path:
    """vtest.avi with the logo, looped (forwards then backwards, so no cut) to `seconds`."""
    path = WORK / f"vtest_logo_{seconds}s.mp4"
    if path.exists():
        return path
    logo = logo_rgba(96)
    frames = [composite(f, logo, 16, 16, 0.8) for f in clip_frames("vtest.avi", 200)]
    cycle = frames + frames[::-1]
    total = seconds * 10
    write_clip((cycle[i % len(cycle)] for i in range(total)), path, 10, audio=True, crf=18)
    return path


def cli(src: Path, out: Path, *extra: str) -> tuple[float, int, dict]:
    report = out.with_suffix(".json")
    seconds, rss = run_measured([sys.executable, "-m", "app", str(src), "-o", str(out), "--report", str(report), "-q", *extra])
    return seconds, rss, json.loads(report.read_text())


def run() -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    src = looped_vtest(20)
    bare_s, _ = run_measured(["ffmpeg", "-v", "error", "-y", "-i", str(src), *BARE, str(WORK / "bare.mp4")])
    results: dict = {"clip": "vtest.avi + logo, looped to 20 s, 768x576 @ 10 fps", "bare_transcode_s": round(bare_s, 2)}
    for label, extra in (("static (auto)", ()), ("regions", ("--region", "16,16,96,130"))):
        seconds, rss, report = cli(src, WORK / "out.mp4", *extra)
        frames = report["frames_processed"]
        stage_fps = {k: round(frames / v, 1) for k, v in report["timings"].items() if v > 0 and k != "total"}
        results[label] = {"wall_s": round(seconds, 2), "ratio_to_bare": round(seconds / bare_s, 2),
                          "stage_fps": stage_fps, "peak_rss_mib": rss, "frames": frames}
    rss = {}
    for seconds in (10, 30, 60, 120):
        _, peak, _ = cli(looped_vtest(seconds), WORK / f"rss_{seconds}.mp4")
        rss[f"{seconds}s"] = peak
    results["peak_rss_mib"] = {**rss, "ratio_60_to_10": round(rss["60s"] / rss["10s"], 3),
                               "ratio_120_to_30": round(rss["120s"] / rss["30s"], 3)}
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
