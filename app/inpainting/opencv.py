"""Weights-free filler: OpenCV's Telea on each crop."""

from __future__ import annotations

import cv2
import numpy as np


class OpenCVFiller:
    """`cv2.inpaint` (Telea) on crops; needs only a little context around the mask."""

    name = "opencv"
    max_margin = 32

    def __init__(self, radius: int = 5) -> None:
        self.radius = radius
        self.fallbacks: list[str] = []

    def fill(self, crops: list[np.ndarray], masks: list[np.ndarray]) -> list[np.ndarray]:
        return [cv2.inpaint(np.ascontiguousarray(c), m, self.radius, cv2.INPAINT_TELEA) for c, m in zip(crops, masks, strict=True)]
