"""Weights-free inpainter: OpenCV's Telea on a padded crop around each mask, feathered back."""

from __future__ import annotations

import cv2
import numpy as np

from app.detection.types import Detection
from app.inpainting.masks import crops_for, feather_paste


class OpenCVInpainter:
    """`cv2.inpaint` (Telea) only where the masks are; never on the full frame."""

    name = "opencv"

    def __init__(self, margin: int, dilate_kernel: int, dilate_iterations: int, radius: int = 5) -> None:
        self.margin = min(margin, 32)
        self.kernel, self.iterations, self.radius = dilate_kernel, dilate_iterations, radius

    def inpaint_batch(self, frames: list[np.ndarray], dets: list[list[Detection]]) -> list[np.ndarray]:
        """Inpainted copies of `frames`; frames without detections are returned as they are."""
        return [self._one(frame, frame_dets) for frame, frame_dets in zip(frames, dets, strict=True)]

    def _one(self, frame: np.ndarray, dets: list[Detection]) -> np.ndarray:
        if not dets:
            return frame
        out = frame.copy()
        h, w = frame.shape[:2]
        for crop in crops_for(dets, w, h, self.margin, self.kernel, self.iterations):
            x1, y1, x2, y2 = crop.box
            region = np.ascontiguousarray(out[y1:y2, x1:x2])
            filled = cv2.inpaint(region, crop.mask, self.radius, cv2.INPAINT_TELEA)
            feather_paste(out, crop, filled)
        return out
