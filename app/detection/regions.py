"""Caller-given boxes: no detection, the same boxes in every frame."""

from __future__ import annotations

import numpy as np

from app.config import Region
from app.detection.types import Detection, Detector
from app.errors import InputError


class RegionDetector(Detector):
    """Turns `--region X,Y,W,H` boxes into detections for every frame."""

    name = "regions"

    def __init__(self, regions: list[Region], width: int, height: int) -> None:
        super().__init__()
        self.boxes = []
        for x, y, w, h in regions:
            box = (max(0, x), max(0, y), min(width, x + w), min(height, y + h))
            if box[2] <= box[0] or box[3] <= box[1]:
                raise InputError(f"region {x},{y},{w},{h} lies outside the {width}x{height} frame")
            self.boxes.append(box)

    def detect(self, frames: list[np.ndarray]) -> list[list[Detection]]:
        return [[Detection(box=b, source=self.name) for b in self.boxes] for _ in frames]
