"""Speed and memory of the default path (`auto` detection, OpenCV inpainting, libx264) against a bare
transcode of the same file. `python -m bench.speed` writes its section into bench/RESULTS.md.

Clips, at 1280x720 and 1920x1080, 12 s each, with audio:

* moving mark: the bundled sample (real footage under a semi-transparent mark that moves about the
  lower right) scaled up and looped;
* still mark: a real photo panned like a handheld camera under an opaque logo and a handle;
* no mark: another photo panned, with a cut.

Each clip runs three interleaved pairs (the bare `ffmpeg -c:v libx264 -preset slow -crf 16 -tune film`
transcode, then the CLI), and the medians are compared, so a slow minute of the machine hits both
sides. Per-stage milliseconds per frame come from the CLI's report; peak RSS is the CLI's own (its
ffmpeg children are separate processes). Memory in video length: the 1080p moving-mark clip at 12 s
against the same clip looped to three times the length.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

from bench.measure import run_measured
from bench.results import stamped, write_section
from scripts.footage import ROOT, composite, logo_rgba, pan_frames, text_rgba, write_clip

WORK = ROOT / "bench" / "work" / "speed"
BARE = ["-c:v", "libx264", "-preset", "slow", "-crf", "16", "-tune", "film", "-pix_fmt", "yuv420p"]
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
SECONDS = 12
PAIRS = 3
TARGET = 1.25
HEADING = "## Speed and memory against a bare transcode"


def moving_mark(size: tuple[int, int], seconds: int = SECONDS) -> Path:
    """The bundled sample scaled to `size` and looped to `seconds`."""
    path = WORK / f"moving_{size[1]}p_{seconds}s.mp4"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(ROOT / "samples" / "sample.mp4"),
                        "-t", str(seconds), "-vf", f"scale={size[0]}:{size[1]}:flags=bicubic", "-c:v", "libx264",
                        "-preset", "fast", "-crf", "16", "-c:a", "aac", str(path)], check=True)
    return path


def still_mark(size: tuple[int, int]) -> Path:
    """A photo panned under an opaque logo and a handle in the lower right corner."""
    path = WORK / f"still_{size[1]}p.mp4"
    if not path.exists():
        w, h = size
        logo, handle = logo_rgba(w // 20, words=False), text_rgba("@clipdepot", h // 24)
        frames = (composite(composite(f, logo, w - logo.shape[1] - handle.shape[1] - w // 40, h - logo.shape[0] - h // 20, 1.0),
                            handle, w - handle.shape[1] - w // 60, h - handle.shape[0] - h // 20, 1.0)
                  for f in pan_frames("fruits.jpg", size, SECONDS * 25, 25))
        write_clip(frames, path, 25, crf=18)
    return path


def no_mark(size: tuple[int, int]) -> Path:
    """Two photos panned, cut from one to the other; nothing to remove."""
    path = WORK / f"clean_{size[1]}p.mp4"
    if not path.exists():
        half = SECONDS * 25 // 2
        frames = [*pan_frames("building.jpg", size, half, 25), *pan_frames("baboon.jpg", size, half, 25, phase=2.0)]
        write_clip(frames, path, 25, crf=18)
    return path


def cli(src: Path, out: Path) -> tuple[float, int, dict]:
    """(wall s, peak RSS MiB, report) of one CLI run with default options."""
    report = out.with_suffix(".json")
    seconds, rss = run_measured([sys.executable, "-m", "app", str(src), "-o", str(out), "--report", str(report), "-q"])
    return seconds, rss, json.loads(report.read_text())


def paired(src: Path) -> dict:
    """Medians of `PAIRS` interleaved (bare, ours) runs of the same file."""
    bare, ours, rss, reports = [], [], [], []
    for _ in range(PAIRS):
        bare.append(run_measured(["ffmpeg", "-v", "error", "-y", "-i", str(src), *BARE, str(WORK / "bare.mp4")])[0])
        seconds, peak, report = cli(src, WORK / "out.mp4")
        ours.append(seconds)
        rss.append(peak)
        reports.append(report)
    frames = reports[0]["frames_processed"]
    stages = {k: round(1000 * statistics.median(r["timings"][k] for r in reports) / frames, 1)
              for k in reports[0]["timings"] if k != "total"}
    bare_s, ours_s = statistics.median(bare), statistics.median(ours)
    return {"bare_s": round(bare_s, 2), "ours_s": round(ours_s, 2), "ratio": round(ours_s / bare_s, 3),
            "ms_per_frame": stages, "peak_rss_mib": max(rss), "frames": frames,
            "marked_frames": reports[0]["watermark_frames"], "notes": reports[0]["notes"]}


def run() -> dict:
    """Every clip at every size, then the memory-in-length check."""
    results: dict = {}
    for label, size in SIZES.items():
        for kind, make in (("moving mark", moving_mark), ("still mark", still_mark), ("no mark", no_mark)):
            results[f"{label}, {kind}"] = paired(make(size))
            print(f"{label}, {kind}", json.dumps(results[f"{label}, {kind}"]), flush=True)
    long = cli(moving_mark(SIZES["1080p"], 3 * SECONDS), WORK / "long.mp4")[1]
    results["rss_in_length"] = {f"{SECONDS} s": results["1080p, moving mark"]["peak_rss_mib"], f"{3 * SECONDS} s": long}
    return results


def section(result: dict) -> list[str]:
    rows = ["| clip | bare s | ours s | ratio | ms per frame by stage | marked frames | peak RSS MiB |",
            "|---|---|---|---|---|---|---|"]
    for label, r in result.items():
        if label == "rss_in_length":
            continue
        stages = ", ".join(f"{k} {v}" for k, v in r["ms_per_frame"].items())
        rows.append(f"| {label} | {r['bare_s']} | {r['ours_s']} | {r['ratio']} | {stages} | "
                    f"{r['marked_frames']}/{r['frames']} | {r['peak_rss_mib']} |")
    worst = max(r["ratio"] for k, r in result.items() if k != "rss_in_length")
    length = ", ".join(f"{k}: {v} MiB" for k, v in result["rss_in_length"].items())
    return [
        stamped(HEADING, "python -m bench.speed"),
        "",
        f"Default options, 2 CPU cores, {SECONDS} s clips; medians of {PAIRS} interleaved pairs, each the bare "
        "`ffmpeg -i IN -c:v libx264 -preset slow -crf 16 -tune film -pix_fmt yuv420p` then the CLI on the same file. "
        f"Target: ≤ {TARGET}x in every row (worst now: {worst}x); peak RSS < 2 GB at 1080p, flat in length.",
        "",
        *rows,
        "",
        f"Peak RSS by length (1080p, moving mark): {length}.",
        "",
        "Stages overlap (decode and encode are their own threads and ffmpeg processes), so their sum is more than",
        "the wall time; `analyse` is the `auto` stack's pass over the whole video before streaming starts.",
        "",
    ]


def main(argv: list[str]) -> None:
    outcome = run()
    (WORK / "speed.json").write_text(json.dumps(outcome, indent=1))
    lines = section(outcome)
    print("\n".join(lines))
    if "--no-write" not in argv:
        write_section(HEADING, lines)


if __name__ == "__main__":
    main(sys.argv[1:])
