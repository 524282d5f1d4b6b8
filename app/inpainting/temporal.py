"""The picture behind a mark, remembered from frames where it was visible.

On a still camera, a mark that moves or jumps (the Sora mark does) uncovers the picture it hid; those
pixels, remembered from the last frame that showed them, are the truth for later frames as long as
the camera has not moved since. This is exact where inpainting can only guess, and it does not flicker.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from loguru import logger

from app.detection.types import Box, iou
from app.errors import InputError

STILL_LEVEL = 1.5  # median absolute grey change between frames (outside masks) below which the camera is still
DRIFT = 2.0  # source px the picture may have shifted since the camera stood still (slow pans over flat colour)
LOCKED = 0.3  # phase-correlation response above which that shift is the camera's (below: people, noise, sway)
PROBE_WIDTH = 320
MAX_SPOTS = 8  # places kept in memory: a jumping mark has a few; a moving one is followed by its latest crops
SAME_SPOT = 0.5  # a crop overlapping a kept place this much (IoU) replaces it
SEED_RING = 12  # px of picture around a place's mask handed to a part with its seed, where the part checks it
SEED_AGREES = 4.0  # median absolute grey difference (visible pixels) under which a seed still fits the frame
SEED_VISIBLE = 0.1  # ... of which at least this share of the seed's box must be visible

Seed = tuple[Box, np.ndarray]


def save_seeds(path: Path, seeds: dict[int, list[Seed]]) -> None:
    """Seeds per part (keyed by the part's first frame) as an npz of arrays, loaded without pickle."""
    entries = [(start, box, picture) for start, items in seeds.items() for box, picture in items]
    header = [{"start": start, "box": list(box)} for start, box, _ in entries]
    with path.open("wb") as out:
        np.savez_compressed(out, header=np.frombuffer(json.dumps(header).encode(), np.uint8),
                            **{f"picture{i}": picture for i, (_, _, picture) in enumerate(entries)})


def load_seeds(path: Path, first_frame: int, width: int, height: int) -> list[Seed]:
    """The seeds `save_seeds` wrote for the part starting at `first_frame` of a `width` x `height` video;
    an `InputError` when one does not fit it."""
    seeds: list[Seed] = []
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(bytes(data["header"]).decode())
        for i, entry in enumerate(header):
            if entry["start"] != first_frame:
                continue
            x1, y1, x2, y2 = (int(v) for v in entry["box"])
            picture = data[f"picture{i}"]
            if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height) or picture.dtype != np.uint8 \
                    or picture.shape != (y2 - y1, x2 - x1, 3):
                raise InputError(f"the seeds file does not fit this {width}x{height} part: box {entry['box']}, "
                                 f"picture {picture.shape}")
            seeds.append(((x1, y1, x2, y2), picture))
    return seeds


# Limited-range luma (16-235) to full-range grey, per level.
_FULL_RANGE = np.clip(np.rint((np.arange(256, dtype=np.float32) - 16.0) * (255.0 / 219.0)), 0, 255).astype(np.uint8)


def _small_grey(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The frame in grey at `size` (int16): shrunk from its decoded luma when it has it (an
    `app.media.reader.Frame`; rescaled to full range, within a level of OpenCV's grey), which spares a
    full-size colour conversion per frame; else grey first, then shrunk (a third of the pixels to average)."""
    planes = getattr(frame, "planes", None)
    if planes is not None:
        return cv2.LUT(cv2.resize(planes[: frame.shape[0]], size, interpolation=cv2.INTER_AREA), _FULL_RANGE).astype(np.int16)
    return cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA).astype(np.int16)


def _median(levels: np.ndarray) -> float:
    """np.median of non-negative grey differences (255 for none), from their histogram: a counting pass
    instead of a partition of every probe pixel."""
    if not levels.size:
        return 255.0
    cumulative = np.cumsum(np.bincount(levels.ravel()))
    n = int(cumulative[-1])
    low, high = np.searchsorted(cumulative, [(n - 1) // 2 + 1, n // 2 + 1])
    return (float(low) + float(high)) / 2


class BackgroundMemory:
    """Per-pixel last unmasked value and when it was seen, kept only at the places marks were (their
    crops: the mark with its margin), so the cost follows the marks' own area however far they travel;
    `recall` answers only for a still camera."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.values: np.ndarray | None = None
        self.seen = np.full((height, width), -1, np.int32)
        self.frame = -1
        self.still_since = 0
        self._previous: np.ndarray | None = None
        self._anchor: np.ndarray | None = None  # the probe picture when the camera last stood still
        self._window: np.ndarray | None = None
        self.scale = min(1.0, PROBE_WIDTH / width)
        self.spots: list[tuple[int, int, int, int]] = []  # the latest crop at each place a mark was, oldest first
        self.kept: list[tuple[int, int, int, int]] = []  # places known before streaming, remembered throughout
        self._seeds: list[Seed] = []

    def next_frame(self, frame: np.ndarray, masked: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> None:
        """Start the next frame (in order): note whether the camera moved since the last one.

        `masked` marks the pixels hidden by marks (left out of the comparison), `boxes` this frame's
        crops. Nothing is done before the first mark: until then there is nothing to restore.
        """
        self.frame += 1
        for box in boxes:
            if not any(iou(k, box) >= SAME_SPOT for k in self.kept):
                self.spots = [s for s in self.spots if iou(s, box) < SAME_SPOT][-(MAX_SPOTS - 1):] + [box]
        if not self.spots and not self.kept:
            return
        if self._seeds:
            self._plant(frame, masked)
        size = (max(1, round(self.width * self.scale)), max(1, round(self.height * self.scale)))
        small = _small_grey(frame, size)
        small_mask = cv2.resize(masked.view(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        if self._previous is not None:
            change = _median(np.abs(small - self._previous)[~small_mask])
            if change > STILL_LEVEL or self._drifted(small):
                self.still_since = self.frame
                self._anchor = None
        self._previous = small
        if self._anchor is None:
            self._anchor = small.astype(np.float32)

    def _drifted(self, small: np.ndarray) -> bool:
        """Whether the picture has shifted since the camera last stood still: a slow pan over flat colour
        changes few pixels from one frame to the next (the median stays low) but moves all of them."""
        if self._anchor is None:
            return False
        if self._window is None:
            self._window = cv2.createHanningWindow((small.shape[1], small.shape[0]), cv2.CV_32F)
        (dx, dy), response = cv2.phaseCorrelate(self._anchor, small.astype(np.float32), self._window)
        return response >= LOCKED and float(np.hypot(dx, dy)) / self.scale > DRIFT

    def remember(self, frame: np.ndarray, masked: np.ndarray) -> None:
        """Keep this frame's visible pixels at the marks' places (call after `next_frame` and any `recall`)."""
        if not self.spots and not self.kept:
            return
        if self.values is None:
            self.values = np.zeros_like(frame)
        for x1, y1, x2, y2 in self.kept + self.spots:
            visible = (~masked[y1:y2, x1:x2]).view(np.uint8)
            cv2.copyTo(frame[y1:y2, x1:x2], visible, self.values[y1:y2, x1:x2])
            cv2.copyTo(np.full((y2 - y1, x2 - x1), self.frame, np.int32), visible, self.seen[y1:y2, x1:x2])

    def seed(self, seeds: list[Seed]) -> None:
        """Pictures of places from before the first frame (a split job's part: the parent's view of the
        frames before the part's lead-in), remembered from the first frame on if they still fit it."""
        self._seeds = list(seeds)

    def _plant(self, frame: np.ndarray, masked: np.ndarray) -> None:
        """Remember each seed whose visible pixels agree with this frame (the first: a part's places are
        kept from it on): the camera has not moved since it was taken. Later frames overwrite it wherever
        they show the picture."""
        planted = 0
        for (x1, y1, x2, y2), picture in self._seeds:
            visible = ~masked[y1:y2, x1:x2]
            now = cv2.cvtColor(frame[y1:y2, x1:x2], cv2.COLOR_RGB2GRAY).astype(np.int16)
            then = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY).astype(np.int16)
            if visible.mean() < SEED_VISIBLE or np.median(np.abs(now - then)[visible]) > SEED_AGREES:
                continue
            if self.values is None:
                self.values = np.zeros_like(frame)
            self.values[y1:y2, x1:x2] = picture
            self.seen[y1:y2, x1:x2] = self.frame
            planted += 1
        logger.info("Restoration: {} of {} pictures from before this part fit its first frame", planted, len(self._seeds))
        self._seeds = []

    def keep(self, places: list[tuple[int, int, int, int]]) -> None:
        """Remember the picture at these places from now on, whatever the marks do."""
        self.kept = list(places)

    def recall(self, box: tuple[int, int, int, int], mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(remembered picture in `box`, where it is valid within `mask`), or None when nothing is."""
        if self.values is None:
            return None
        x1, y1, x2, y2 = box
        valid = (mask > 0) & (self.seen[y1:y2, x1:x2] >= self.still_since) & (self.seen[y1:y2, x1:x2] >= 0)
        if not valid.any():
            return None
        return self.values[y1:y2, x1:x2], valid
