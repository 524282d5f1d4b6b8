"""The picture behind a mark, remembered from frames where it was visible.

On a still camera, a mark that moves or jumps (the Sora mark does) uncovers the picture it hid; those
pixels, remembered from the last frame that showed them, are the truth for later frames as long as
the camera has not moved since. This is exact where inpainting can only guess, and it does not flicker.
"""

from __future__ import annotations

import cv2
import numpy as np

STILL_LEVEL = 1.5  # median absolute grey change between frames (outside masks) below which the camera is still
PROBE_WIDTH = 320


class BackgroundMemory:
    """Per-pixel last unmasked value and when it was seen; `recall` answers only for a still camera."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.values: np.ndarray | None = None
        self.seen = np.full((height, width), -1, np.int64)
        self.frame = -1
        self.still_since = 0
        self._previous: np.ndarray | None = None
        self.scale = min(1.0, PROBE_WIDTH / width)
        self.region: tuple[int, int, int, int] | None = None  # union of every crop seen: all that is worth keeping

    def next_frame(self, frame: np.ndarray, masked: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> None:
        """Start the next frame (in order): note whether the camera moved since the last one.

        `masked` marks the pixels hidden by marks (left out of the comparison), `boxes` this frame's
        crops. Nothing is done before the first mark: until then there is nothing to restore.
        """
        self.frame += 1
        for box in boxes:
            r = self.region
            self.region = box if r is None else (min(r[0], box[0]), min(r[1], box[1]), max(r[2], box[2]), max(r[3], box[3]))
        if self.region is None:
            return
        small = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), None, fx=self.scale, fy=self.scale,
                           interpolation=cv2.INTER_AREA).astype(np.int16)
        small_mask = cv2.resize(masked.astype(np.uint8), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
        if self._previous is not None:
            visible = ~small_mask
            change = np.median(np.abs(small - self._previous)[visible]) if visible.any() else 255
            if change > STILL_LEVEL:
                self.still_since = self.frame
        self._previous = small

    def remember(self, frame: np.ndarray, masked: np.ndarray) -> None:
        """Keep this frame's visible pixels near marks (call after `next_frame` and any `recall` for it)."""
        if self.region is None:
            return
        if self.values is None:
            self.values = np.zeros_like(frame)
        x1, y1, x2, y2 = self.region
        visible = ~masked[y1:y2, x1:x2]
        np.copyto(self.values[y1:y2, x1:x2], frame[y1:y2, x1:x2], where=visible[:, :, None])
        self.seen[y1:y2, x1:x2][visible] = self.frame

    def recall(self, box: tuple[int, int, int, int], mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(remembered picture in `box`, where it is valid within `mask`), or None when nothing is."""
        if self.values is None:
            return None
        x1, y1, x2, y2 = box
        valid = (mask > 0) & (self.seen[y1:y2, x1:x2] >= self.still_since) & (self.seen[y1:y2, x1:x2] >= 0)
        if not valid.any():
            return None
        return self.values[y1:y2, x1:x2], valid
