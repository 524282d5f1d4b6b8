"""Restoration's own cost per frame (background memory, blend statistics, undo, paste), without the
filler, for a mark 5 % of the width travelling across a 1080p frame: the cost must follow the mark's
own area, not the area it has visited. `python -m bench.restoration` writes its section into
bench/RESULTS.md.

The frames are a real photo panned (opencv-doc's), the mark opencv's logo at 50 % opacity, moved
diagonally from the top-left to the bottom-right corner over the run; the filler hands crops back as
they are, so only the restorer is timed.
"""

from __future__ import annotations

import sys
import time

import cv2
import numpy as np

from app.detection.types import Detection
from app.inpainting.restorer import Restorer
from app.media.reader import decoded
from bench.results import stamped, write_section
from scripts.footage import composite, logo_rgba, mark_box, pan_frames

SIZE = (1920, 1080)
FRAMES = 240
BATCH = 4
HEADING = "## Restoration cost per frame"


class CopyFiller:
    """Gives crops back unchanged: the filler (LaMa, Telea) is not what this measures."""

    name, max_margin, fallbacks = "copy", 64, []

    def fill(self, crops: list[np.ndarray], masks: list[np.ndarray]) -> list[np.ndarray]:
        return crops


def measure() -> list[float]:
    """Milliseconds per frame of `observe` + `inpaint_batch`, per batch, along the mark's path."""
    w, h = SIZE
    mark = logo_rgba(int(0.05 * w))
    restorer = Restorer(CopyFiller(), w, h, 64, 7, 3, unblend=True)
    frames = pan_frames("fruits.jpg", SIZE, FRAMES, 25.0)
    per_frame, batch, dets = [], [], []
    for k, frame in enumerate(frames):
        t = k / (FRAMES - 1)
        x, y = int(16 + t * (w - mark.shape[1] - 32)), int(16 + t * (h - mark.shape[0] - 32))
        marked = composite(frame, mark, x, y, 0.5)
        batch.append(decoded(cv2.cvtColor(marked, cv2.COLOR_RGB2YUV_I420)))  # as the decoder hands frames over
        dets.append([Detection(box=mark_box(mark, x, y))])
        if len(batch) == BATCH:
            started = time.perf_counter()
            restorer.observe(batch, dets)
            restorer.inpaint_batch(batch, dets)
            per_frame.append(1000 * (time.perf_counter() - started) / BATCH)
            batch, dets = [], []
    return per_frame


def section(per_frame: list[float]) -> list[str]:
    quarter = len(per_frame) // 4
    first, last = float(np.median(per_frame[:quarter])), float(np.median(per_frame[-quarter:]))
    return [
        stamped(HEADING, "python -m bench.restoration"),
        "",
        f"1080p, a mark 5 % of the width (opencv's logo at 50 %) moved from corner to corner over {FRAMES} frames, "
        "filler excluded (crops handed back as they are); median milliseconds per frame:",
        "",
        "| whole run | first quarter of the path | last quarter | target |",
        "|---|---|---|---|",
        f"| {np.median(per_frame):.2f} | {first:.2f} | {last:.2f} | ≤ 5, flat |",
        "",
    ]


def main(argv: list[str]) -> None:
    lines = section(measure())
    print("\n".join(lines))
    if "--no-write" not in argv:
        write_section(HEADING, lines)


if __name__ == "__main__":
    main(sys.argv[1:])
