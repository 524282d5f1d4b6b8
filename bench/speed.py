"""Speed and memory of the default path (the `auto` stack, OpenCV inpainting) on real footage.

vtest.avi (fixed camera, 768x576, 10 fps) looped to 20 s with opencv's logo composited on, and
20 s of a photo panned at 720p (25 fps) under semi-transparent text; each end-to-end CLI run is
timed against the bare libx264 transcode with the same settings, measured in the same run; peak
RSS is compared for inputs of 10 s to 120 s.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.measure import run_measured
from scripts.footage import ROOT, clip_frames, composite, logo_rgba, pan_frames, text_rgba, write_clip

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


def pan_720p(seconds: int = 20) -> Path:
    """A real photo panned at 1280x720, 25 fps, under semi-transparent white text."""
    path = WORK / f"pan_720p_{seconds}s.mp4"
    if not path.exists():
        mark = text_rgba("@wildframes", 40)
        frames = (composite(f, mark, 1280 - mark.shape[1] - 40, 720 - mark.shape[0] - 36, 0.5)
                  for f in pan_frames("fruits.jpg", (1280, 720), seconds * 25, 25))
        write_clip(frames, path, 25, audio=True, crf=18)
    return path


def cli(src: Path, out: Path, *extra: str) -> tuple[float, int, dict]:
    report = out.with_suffix(".json")
    seconds, rss = run_measured([sys.executable, "-m", "app", str(src), "-o", str(out), "--report", str(report), "-q", *extra])
    return seconds, rss, json.loads(report.read_text())


def timed(src: Path, *extra: str) -> dict:
    """One CLI run against the bare transcode of the same file, measured back to back."""
    bare_s, _ = run_measured(["ffmpeg", "-v", "error", "-y", "-i", str(src), *BARE, str(WORK / "bare.mp4")])
    seconds, rss, report = cli(src, WORK / "out.mp4", *extra)
    frames = report["frames_processed"]
    stage_fps = {k: round(frames / v, 1) for k, v in report["timings"].items() if v > 0 and k != "total"}
    return {"bare_s": round(bare_s, 2), "wall_s": round(seconds, 2), "ratio_to_bare": round(seconds / bare_s, 2),
            "stage_fps": stage_fps, "peak_rss_mib": rss, "frames": frames}


def run() -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    vtest, pan = looped_vtest(20), pan_720p()
    results: dict = {
        "auto, vtest.avi + logo looped to 20 s, 768x576 @ 10 fps": timed(vtest),
        "regions, same clip": timed(vtest, "--region", "16,16,96,130"),
        "auto, photo panned at 1280x720 @ 25 fps, 20 s, semi-transparent text": timed(pan),
    }
    rss = {}
    for seconds in (10, 30, 60, 120):
        _, peak, _ = cli(looped_vtest(seconds), WORK / f"rss_{seconds}.mp4")
        rss[f"{seconds}s"] = peak
    results["peak_rss_mib"] = {**rss, "ratio_60_to_10": round(rss["60s"] / rss["10s"], 3),
                               "ratio_120_to_30": round(rss["120s"] / rss["30s"], 3)}
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
