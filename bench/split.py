"""The split path's own cost against a single run, and on paper the wall time of a 60-minute 1080p
video on 1, 4 and 16 workers from the measured costs. `python -m bench.split` writes its section into
bench/RESULTS.md.

Measured in one process on this machine's CPU: one run of a 720p clip; then the same clip the split
way: cut into parts (stream copy), the parent's detection pass over the whole video, each part cleaned
as a child cleans it (with its lead-in and lead-out), and the join with the audio put back. S3
transfers and RunPod's queue are left out (they depend on the region and the endpoint, not on this code).
"""

from __future__ import annotations

import shutil
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from app.config import ProcessOptions, Settings
from app.detection.types import Box
from app.media.keyframes import clean_keyframes, kept_keyframes
from app.media.probe import probe
from app.media.reader import read_frames
from app.service import VideoPart, WatermarkRemovalService
from app.split.media import cut, join
from app.split.plan import overlap_frames, plan_parts
from bench.results import stamped, write_section
from scripts.footage import ROOT, composite, mark_box, pan_frames, text_rgba, write_clip

HEADING = "## Splitting a long video across workers"
WORK = ROOT / "bench" / "work" / "split"
SIZE, FPS, SECONDS, KEYINT, PARTS = (1280, 720), 25, 40, 50, 4
TARGET_SECONDS, TARGET_FPS, TARGET_PIXELS = 3600, 30, 1920 * 1080


def make_clip(path: Path) -> tuple[Path, Box]:
    """A real photo panned at 720p under semi-transparent text, a tone, a keyframe every 2 s; and the
    mark's box."""
    mark = text_rgba("SAMPLE", 48)
    x, y = SIZE[0] - mark.shape[1] - 40, SIZE[1] - mark.shape[0] - 32
    if not path.exists():
        frames = (composite(f, mark, x, y, 0.55) for f in pan_frames("building.jpg", SIZE, FPS * SECONDS, FPS))
        write_clip(frames, path, FPS, keyint=KEYINT)
    return path, mark_box(mark, x, y)


def compare(single: Path, split: Path, box: Box, joins: list[int]) -> dict:
    """PSNR of the split result against the single run (all of each frame, and away from the mark), and
    the mean frame-to-frame change inside the mark at the joins against its 99th percentile elsewhere."""
    x1, y1, x2, y2 = box
    away = np.ones((SIZE[1], SIZE[0]), bool)
    away[max(0, y1 - 24): y2 + 24, max(0, x1 - 24): x2 + 24] = False
    squared = {"all": 0.0, "away": 0.0}
    steps, previous, count = [], None, 0
    for a, b in zip(read_frames(probe(single)), read_frames(probe(split)), strict=True):
        diff = (a.astype(np.float64) - b.astype(np.float64)) ** 2
        squared["all"] += diff.mean()
        squared["away"] += diff[away].mean()
        inside = b[y1:y2, x1:x2].astype(np.int16)
        if previous is not None:
            steps.append(float(np.abs(inside - previous).mean()))
        previous, count = inside, count + 1
    psnr = {k: 10 * np.log10(255.0**2 / max(v / count, 1e-12)) for k, v in squared.items()}
    at_joins = [steps[j - 1] for j in joins]
    return {"psnr_all": psnr["all"], "psnr_away": psnr["away"], "seam_max": max(at_joins),
            "step_p99": float(np.percentile(steps, 99))}


def measure(work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    source, box = make_clip(work / "clip.mp4")
    info = probe(source)
    settings = Settings()
    service = WatermarkRemovalService(settings, probe_gpu=False)
    options = ProcessOptions()
    clock = time.perf_counter()
    service.clean(source, work / "single.mp4", options, info=info)
    single = time.perf_counter() - clock

    shutil.rmtree(work / "cut", ignore_errors=True)  # a job's temp dir is new; the bench's is reused
    clock = time.perf_counter()
    total, keys = clean_keyframes(source)
    keys = kept_keyframes(keys, info.fps)
    parts = plan_parts(keys, total, PARTS, overlap_frames(settings.split_overlap_seconds, info.fps))
    files = cut(source, parts, Fraction(info.fps_rational), work / "cut")
    cut_s = time.perf_counter() - clock
    clock = time.perf_counter()
    service.analyse(info, options, work / "analysis.npz", work / "seeds.npz", [p.first for p in parts])
    analyse_s = time.perf_counter() - clock
    part_s, outputs = [], []
    for part, file in zip(parts, files):
        part_info = probe(file).model_copy(update={"fps": info.fps, "fps_rational": info.fps_rational})
        clock = time.perf_counter()
        service.clean(file, work / f"clean-{part.index}.mp4", options, info=part_info,
                      part=VideoPart(range(part.keep_first, part.keep_first + part.keep_frames), part.first,
                                     work / "analysis.npz", tuple(k - part.first for k in keys if part.first <= k < part.end),
                                     work / "seeds.npz"))
        part_s.append(time.perf_counter() - clock)
        outputs.append(work / f"clean-{part.index}.mp4")
    clock = time.perf_counter()
    join(outputs, [p.keep_frames for p in parts], info, work / "joined.mp4", work)
    join_s = time.perf_counter() - clock
    joins = list(np.cumsum([p.keep_frames for p in parts])[:-1])
    return {"frames": total, "seconds": info.duration_s, "single": single, "cut": cut_s, "analyse": analyse_s,
            "join": join_s, "parts": part_s, "part_frames": [p.frames for p in parts],
            "overlap": settings.split_overlap_seconds,
            **compare(work / "single.mp4", work / "joined.mp4", box, joins)}


def on_paper(m: dict, workers: int) -> float:
    """Wall seconds for the target video on `workers` workers: the parent's cut, analysis and join, plus
    the slowest child (its share of the frames and both overlaps). Costs scale with the pixel count."""
    scale = TARGET_PIXELS / (SIZE[0] * SIZE[1])
    if workers == 1:
        return m["single"] / m["frames"] * TARGET_SECONDS * TARGET_FPS * scale
    per_second = (m["cut"] + m["join"] + m["analyse"]) / m["seconds"]
    per_frame = sum(m["parts"]) / sum(m["part_frames"])
    child_frames = (TARGET_SECONDS / workers + 2 * m["overlap"]) * TARGET_FPS
    return (per_second * TARGET_SECONDS + per_frame * child_frames) * scale


def section(m: dict) -> list[str]:
    overhead = (m["cut"] + m["join"]) / m["single"]
    rows = [f"| {n} | {on_paper(m, n) / 60:.0f} min |" for n in (1, 4, 16)]
    return [
        stamped(HEADING, "python -m bench.split"),
        "",
        f"A {SIZE[0]}x{SIZE[1]} clip, {m['seconds']:.0f} s at {FPS} fps (a real photo panned under semi-transparent "
        f"text, a keyframe every {KEYINT // FPS} s), on this machine's 2 CPU cores, weights-free defaults:",
        "",
        "| single run | cut (stream copy) | parent's detection pass | parts, each | join + audio | cut + join / single |",
        "|---|---|---|---|---|---|",
        f"| {m['single']:.1f} s | {m['cut']:.2f} s | {m['analyse']:.1f} s | "
        f"{', '.join(f'{s:.1f}' for s in m['parts'])} s | {m['join']:.2f} s | {100 * overhead:.1f} % |",
        "",
        f"The split result against the single run: PSNR {m['psnr_all']:.1f} dB over whole frames, "
        f"{m['psnr_away']:.1f} dB away from the mark (24 px around its box left out); inside the mark, the largest "
        f"frame-to-frame change at a join is {m['seam_max']:.2f} grey levels, against {m['step_p99']:.2f} for the "
        "99th percentile of all frames.",
        "",
        f"On paper, a {TARGET_SECONDS // 60}-minute 1080p video at {TARGET_FPS} fps, from these costs scaled by the "
        "pixel count (the parent's cut, detection pass and join, then the slowest child with its share and both "
        f"{m['overlap']:.0f} s overlaps; S3 transfers, queueing and cold starts left out):",
        "",
        "| workers | wall time |",
        "|---|---|",
        *rows,
        "",
        "The parent's detection pass is serial: it reads the whole video at 1 frame a second so that every part",
        "is cleaned with one decision over the whole video. It bounds the speed-up; on a GPU worker it is a",
        "smaller share (batched inference), as are the children's costs.",
        "",
    ]


def main(argv: list[str]) -> None:
    lines = section(measure(WORK))
    print("\n".join(lines))
    if "--no-write" not in argv:
        write_section(HEADING, lines)


if __name__ == "__main__":
    main(sys.argv[1:])
