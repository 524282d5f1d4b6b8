"""Quality and speed of each method on the benchmark clips, against the clean originals.

Methods: the watermarked input (do nothing), ffmpeg's delogo given the true box (what a user
would pick instead), and ours: automatic detection (the default stack), the same without blend
inversion, and regions given the true boxes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from skimage.metrics import structural_similarity

from app.detection.types import iou
from app.media.probe import probe
from app.media.reader import read_frames
from bench.clips import Clip
from bench.measure import run_measured

X264 = ["-c:v", "libx264", "-preset", "slow", "-crf", "16", "-tune", "film", "-pix_fmt", "yuv420p"]
Box = tuple[int, int, int, int]


def delogo_filter(clip: Clip, width: int, height: int) -> str:
    """delogo per run of frames with the same true box (delogo needs the box inside the frame)."""
    parts, start = [], 0
    for i in range(1, len(clip.truth) + 1):
        if i == len(clip.truth) or clip.truth[i] != clip.truth[start]:
            for x1, y1, x2, y2 in clip.truth[start]:
                x1, y1 = max(1, x1 - 1), max(1, y1 - 1)
                x2, y2 = min(width - 2, x2 + 1), min(height - 2, y2 + 1)
                parts.append(f"delogo=x={x1}:y={y1}:w={x2 - x1}:h={y2 - y1}:enable='between(n,{start},{i - 1})'")
            start = i
    return ",".join(parts)


def union_regions(clip: Clip) -> list[str]:
    spots = sorted({b for boxes in clip.truth for b in boxes})
    return [arg for x1, y1, x2, y2 in spots for arg in ("--region", f"{x1},{y1},{x2 - x1},{y2 - y1}")]


def methods(clip: Clip, work: Path) -> dict[str, list[str] | None]:
    info = probe(clip.marked)
    out = lambda tag: str(work / f"{clip.name}.{tag}.mp4")  # noqa: E731
    ours = [sys.executable, "-m", "app", str(clip.marked), "-q"]
    return {
        "input (nothing)": None,
        "ffmpeg delogo, true box": ["ffmpeg", "-v", "error", "-y", "-i", str(clip.marked), "-vf",
                                    delogo_filter(clip, info.width, info.height), *X264, "-c:a", "copy", out("delogo")],
        "ours, auto detection": [*ours, "-o", out("auto"), "--report", out("auto") + ".json"],
        "ours, auto, no unblend": [*ours, "-o", out("noblend"), "--report", out("noblend") + ".json", "--no-unblend"],
        "ours, regions = true box": [*ours, "-o", out("regions"), "--report", out("regions") + ".json",
                                     *union_regions(clip)],
    }


def region_mask(boxes: list[Box], shape: tuple[int, int], grow: int = 0) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for x1, y1, x2, y2 in boxes:
        mask[max(0, y1 - grow) : y2 + grow, max(0, x1 - grow) : x2 + grow] = True
    return mask


def psnr_from_mse(mse: float) -> float:
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def quality(clip: Clip, result: Path) -> dict:
    """PSNR/SSIM inside the true region, PSNR outside, flicker inside (ours vs clean)."""
    sq_in = n_in = sq_out = n_out = 0.0
    ssims, flick, flick_clean = [], [], []
    prev = None
    for index, (clean, got) in enumerate(zip(read_frames(probe(clip.clean)), read_frames(probe(result)), strict=False)):
        boxes = clip.truth[index]
        inside = region_mask(boxes, clean.shape[:2])
        outside = ~region_mask(boxes, clean.shape[:2], grow=16)
        diff = (got.astype(np.float64) - clean) ** 2
        sq_in += diff[inside].sum()
        n_in += inside.sum() * 3
        sq_out += diff[outside].sum()
        n_out += outside.sum() * 3
        for x1, y1, x2, y2 in boxes:
            side = min(7, x2 - x1, y2 - y1)  # SSIM's 7 px window, narrowed (odd) for a mark only a few px tall
            if side >= 3:
                ssims.append(structural_similarity(clean[y1:y2, x1:x2], got[y1:y2, x1:x2], channel_axis=2,
                                                   data_range=255, win_size=side - 1 + side % 2))
        if prev is not None and prev[2] == boxes:
            flick.append(np.abs(got.astype(np.float64) - prev[1])[inside].mean())
            flick_clean.append(np.abs(clean.astype(np.float64) - prev[0])[inside].mean())
        prev = (clean.astype(np.float64), got.astype(np.float64), boxes)
    return {
        "psnr_in": round(psnr_from_mse(sq_in / n_in), 2), "ssim_in": round(float(np.mean(ssims)), 3),
        "psnr_out": round(psnr_from_mse(sq_out / max(1, n_out)), 2),
        "flicker": round(float(np.mean(flick)), 2), "flicker_clean": round(float(np.mean(flick_clean)), 2),
    }


def detection(clip: Clip, report: dict) -> dict:
    """Per-frame precision, recall (IoU >= 0.5) and mean best IoU of the report's boxes."""
    tp = fp = fn = 0
    ious = []
    for truth, frame in zip(clip.truth, report["frames"], strict=True):
        preds = [tuple(b) for b in frame["boxes"]]
        for t in truth:
            best = max((iou(p, t) for p in preds), default=0.0)
            ious.append(best)
            tp += best >= 0.5
            fn += best < 0.5
        fp += sum(1 for p in preds if max((iou(p, t) for t in truth), default=0.0) < 0.5)
    return {"precision": round(tp / max(1, tp + fp), 3), "recall": round(tp / max(1, tp + fn), 3),
            "mean_iou": round(float(np.mean(ious)), 3)}


def evaluate(clip: Clip, work: Path) -> dict:
    bare_s, _ = run_measured(["ffmpeg", "-v", "error", "-y", "-i", str(clip.marked), *X264, str(work / "bare.mp4")])
    frames = probe(clip.marked).frames
    rows = {}
    for label, command in methods(clip, work).items():
        row: dict = {}
        if command is None:
            result = clip.marked
        else:
            seconds, rss = run_measured(command)
            result = Path(command[command.index("-o") + 1] if "-o" in command else command[-1])
            row.update({"wall_s": round(seconds, 2), "ratio_to_bare": round(seconds / bare_s, 2), "peak_rss_mib": rss,
                        "fps": round(frames / seconds, 1)})
            report_path = Path(str(result) + ".json")
            if report_path.exists():
                report = json.loads(report_path.read_text())
                row["stage_fps"] = {k: round(frames / v, 1) for k, v in report["timings"].items() if v > 0 and k != "total"}
                row["restored_pixels"] = report.get("restored_pixels", {})
                row["notes"] = report.get("notes", [])
                if "regions" not in label:
                    row.update(detection(clip, report))
        row.update(quality(clip, result))
        row["output"] = str(result)
        rows[label] = row
    return {"clip": clip.name, "description": clip.description, "frames": frames, "bare_s": round(bare_s, 2),
            "methods": rows}
