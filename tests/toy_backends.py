"""A toy detector and a toy filler, added to the registries by tests alone (no edit elsewhere)."""

from __future__ import annotations

import numpy as np

from app.detection.types import Detection, Detector
from app.registry import BuildContext, Choice

TOY_BOX = (16, 16, 96, 64)
MAGENTA = (255, 0, 255)


class CornerDetector(Detector):
    """Says the top-left corner holds a mark in every frame."""

    name = "corner"

    def detect(self, frames: list[np.ndarray]) -> list[list[Detection]]:
        return [[Detection(box=TOY_BOX, source=self.name)] for _ in frames]


class PaintFiller:
    """Paints the masked pixels magenta, so a test can see exactly where it filled."""

    name = "paint"
    max_margin = 16
    fallbacks: list[str] = []

    def fill(self, crops: list[np.ndarray], masks: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for crop, mask in zip(crops, masks, strict=True):
            painted = crop.copy()
            painted[mask > 0] = MAGENTA
            out.append(painted)
        return out


def build_detector(ctx: BuildContext) -> Choice:
    return Choice(CornerDetector(), "corner", f"toy detector on {ctx.info.width}x{ctx.info.height}")


def build_filler(ctx: BuildContext) -> Choice:
    return Choice(PaintFiller(), "paint", "toy filler")
