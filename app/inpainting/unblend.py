"""Undoing a semi-transparent mark instead of painting over it.

A semi-transparent mark leaves the picture under it visible: observed = (1 - a) * picture + a * colour,
with the opacity `a` and colour fixed per pixel while the picture changes. Over many frames, the
picture's temporal mean and spread at a pixel are close to those of its unmarked neighbours, so
interpolating the neighbours' statistics into the mask (harmonically: they vary slowly, and a membrane
follows a gradient across the mask where Telea's first-order fill streaks from its edge) gives, per
pixel and channel,
a = 1 - std(observed) / std(picture) and colour = (mean(observed) - (1 - a) * mean(picture)) / a.
Where the estimate is confident (the picture varies enough, the mark is not near-opaque) the blend
is inverted: picture = (observed - a * colour) / (1 - a). The rest is left to the inpainter.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from app.detection.types import Box
from app.inpainting.smooth import membrane

MIN_OBSERVATIONS = 16
MAX_ALPHA = 0.85
MIN_BACKGROUND_STD = 8.0
REESTIMATE_GROWTH = 1.25


@dataclass
class _Estimate:
    """The inversion as one multiply-add over the bounding rectangle of the confident pixels (`window`):
    picture = (observed - offset) * gain, with offset 0 and gain 1 where the estimate is not confident,
    so those pixels come back as they were."""

    window: tuple[slice, slice] | None  # rows, columns of the crop; None where no pixel is confident
    gain: np.ndarray  # (h, w, 3) float32 over the window: 1 / (1 - alpha) where confident, the same for each
    # channel (numpy multiplies by an (h, w, 1) gain broadcast over the channels many times slower)
    offset: np.ndarray  # (h, w, 3) float32 over the window: alpha * colour where confident
    remaining: np.ndarray  # (crop h, crop w) uint8: the mask less the confident pixels, what is left to inpaint
    observations: int


def _levels(values: np.ndarray) -> np.ndarray:
    """Finite float32 values (a C-contiguous array, clipped in place) as uint8 levels, clipped to 0..255
    and truncated, as np.clip and astype give them (OpenCV's thresholds clip far faster than np.clip)."""
    flat = values.reshape(values.shape[0], -1)
    cv2.threshold(flat, 255, 255, cv2.THRESH_TRUNC, dst=flat)
    cv2.threshold(flat, 0, 0, cv2.THRESH_TOZERO, dst=flat)
    return values.astype(np.uint8)


def _median3(values: np.ndarray) -> np.ndarray:
    """The median of an (h, w, 3) array's channels, as `np.median(values, axis=2)` gives it, without the
    sort numpy runs along a 3-long axis (ten times slower)."""
    a, b, c = values[:, :, 0], values[:, :, 1], values[:, :, 2]
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


class BlendEstimator:
    """Accumulates per-pixel statistics where marks are, and inverts the blend where it can."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self._sum: np.ndarray | None = None
        self._sq: np.ndarray | None = None
        self._count: np.ndarray | None = None
        self._stamp: np.ndarray | None = None  # the last frame each pixel was added for (boxes may overlap)
        self._frames = 0
        self._cache: dict[tuple[Box, bytes], _Estimate] = {}

    def observe(self, frame: np.ndarray, boxes: list[Box]) -> None:
        """Add one frame's pixels inside `boxes` (crop regions around its marks) to the statistics, each
        pixel once; the work is the boxes' area, not the frame's."""
        if not boxes:
            return
        if self._sum is None:
            self._sum = np.zeros((self.height, self.width, 3), np.float32)
            self._sq = np.zeros_like(self._sum)
            self._count = np.zeros((self.height, self.width), np.int32)
            self._stamp = np.full((self.height, self.width), -1, np.int32)
        assert self._sq is not None and self._count is not None and self._stamp is not None
        self._frames += 1
        for x1, y1, x2, y2 in boxes:
            fresh = self._stamp[y1:y2, x1:x2] != self._frames
            self._stamp[y1:y2, x1:x2] = self._frames
            only = None if fresh.all() else fresh.astype(np.uint8)
            values = frame[y1:y2, x1:x2]
            cv2.accumulate(values, self._sum[y1:y2, x1:x2], mask=only)
            cv2.accumulateSquare(values, self._sq[y1:y2, x1:x2], mask=only)
            self._count[y1:y2, x1:x2] += fresh

    def undo(self, crop: np.ndarray, box: Box, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(crop with the blend undone where confident, mask of what is still to inpaint)."""
        estimate = self._estimate(box, mask)
        if estimate is None or estimate.window is None:  # an opaque mark: nothing to undo
            return crop, mask
        part = crop[estimate.window].astype(np.float32, order="C")  # `_levels` clips it in place
        part -= estimate.offset
        part *= estimate.gain
        part += 0.5
        restored = crop.copy()
        restored[estimate.window] = _levels(part)
        return restored, estimate.remaining

    def _estimate(self, box: Box, mask: np.ndarray) -> _Estimate | None:
        if self._count is None:
            return None
        x1, y1, x2, y2 = box
        key = (box, np.packbits(mask > 0).tobytes())
        cached = self._cache.get(key)
        if cached is not None and self._frames < cached.observations * REESTIMATE_GROWTH:
            return cached  # no pixel was observed in more frames than there were: not yet worth estimating again
        count = self._count[y1:y2, x1:x2]
        observed = int(count.min())
        if observed < MIN_OBSERVATIONS:
            return None
        if cached is not None and observed < cached.observations * REESTIMATE_GROWTH:
            return cached
        assert self._sum is not None and self._sq is not None
        n = count[:, :, None].astype(np.float32)
        mean = self._sum[y1:y2, x1:x2] / n
        std = np.sqrt(np.maximum(self._sq[y1:y2, x1:x2] / n - mean * mean, 0.0))
        inside = (mask > 0).astype(np.uint8)
        mean_bg, std_bg = membrane(mean, inside > 0), membrane(std, inside > 0)
        alpha = _median3(np.clip(1.0 - std / np.maximum(std_bg, 1e-3), 0.0, 1.0)).astype(np.float32)
        colour = (mean - (1.0 - alpha[:, :, None]) * mean_bg) / np.maximum(alpha[:, :, None], 1e-3)
        confident = (inside > 0) & (alpha < MAX_ALPHA) & (std_bg.min(axis=2) > MIN_BACKGROUND_STD)
        a = np.where(confident, alpha, 0.0)[:, :, None].astype(np.float32)
        x, y, w, h = cv2.boundingRect(confident.astype(np.uint8))
        window = (slice(y, y + h), slice(x, x + w)) if w and h else None
        a, colour = a[y : y + h, x : x + w], colour[y : y + h, x : x + w]
        gain = np.repeat(1.0 / (1.0 - a), 3, axis=2)
        offset = (a * colour).astype(np.float32)
        remaining = np.where(confident, 0, mask).astype(np.uint8)
        remaining.flags.writeable = False  # handed out for every frame this estimate serves
        estimate = _Estimate(window, gain, offset, remaining, observed)
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[key] = estimate
        return estimate
