"""What detectors hand to the tracker and the inpainter."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

Box = tuple[int, int, int, int]


@dataclass
class Detection:
    """One watermark in one frame: box (x1, y1, x2, y2) in source pixels.

    `mask` is an optional boolean array of the box's shape marking the mark's own pixels;
    without it the whole box is inpainted.
    """

    box: Box
    score: float = 1.0
    source: str = "static"
    mask: np.ndarray | None = field(default=None, repr=False)

    @property
    def area(self) -> int:
        return max(0, self.box[2] - self.box[0]) * max(0, self.box[3] - self.box[1])


def intersection(a: Box, b: Box) -> int:
    """Area two (x1, y1, x2, y2) boxes share (0 when they do not overlap)."""
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    inter = intersection(a, b)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Reading:
    """How a probability-map detector's map becomes boxes: binarisation threshold, mean probability a
    region needs, and how far a region is grown (ratio of its area to its perimeter)."""

    probability: float
    box_score: float
    unclip: float


class Detector:
    """What the pipeline asks of a detector; `detect` is fed consecutive segments of one video.

    The defaults suit a per-frame detector: no analysis pass, its boxes go through the tracker,
    single scale, no fallbacks. A detector that decides over the whole video sets `tracked` and does
    its pass in `analyse`; one that can fall back (CUDA out of memory) lists what it did in `fallbacks`.
    """

    name = "detector"
    tracked = False
    multiscale = False
    only_places = False  # every detection `detect` returns is one of `places` (then the decoder converts only there)

    def __init__(self) -> None:
        self.notes: list[str] = []

    @property
    def fallbacks(self) -> list[str]:
        return []

    @property
    def places(self) -> list[Detection]:
        """Marks known before streaming (decided by `analyse`): where the inpainter should remember the
        picture from the first frame on. Empty for a per-frame detector."""
        return []

    @property
    def finds_nothing(self) -> bool:
        """True when `analyse` (or a loaded analysis) decided the video has no mark, so `detect` boxes
        nothing in any frame: the pipeline then transcodes the video straight through, its frames
        untouched. Never true for a per-frame detector, which cannot know before it looks."""
        return False

    def analyse(self, info: object) -> None:
        """A pass over the whole video before streaming; none by default."""

    def save_analysis(self, path: Path) -> bool:
        """Write what `analyse` decided, for the parts of a split video to share one decision over the
        whole video; False when there is nothing to share (a per-frame detector: each part detects alone)."""
        return False

    def load_analysis(self, path: Path, first_frame: int) -> None:
        """Take a whole video's `save_analysis` instead of analysing, for a part that starts at the
        video's frame `first_frame`."""
        raise NotImplementedError(f"{self.name} has no analysis to load")

    def views_before(self, info: object, starts: list[int], pad: int) -> dict[int, list[tuple[Box, np.ndarray]]]:
        """For a part of the video starting at each of `starts`: a picture of each place from before it,
        known to show no mark there (the box grown by `pad`, source pixels). Empty for a per-frame detector."""
        return {}

    def detect(self, frames: list[np.ndarray]) -> list[list[Detection]]:
        raise NotImplementedError
