"""Restoring masked pixels on crops: recall the picture a frame showed, interpolate where the
surroundings are smooth, else undo a semi-transparent blend where the video allows it and fill the
rest with the filler (LaMa or OpenCV); paste back with a feathered edge."""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from app.detection.types import Box, Detection
from app.inpainting.masks import Crop, FeatherPaster, crops_for, reach
from app.inpainting.smooth import smooth_fill
from app.inpainting.temporal import SEED_RING, BackgroundMemory, Seed
from app.inpainting.unblend import BlendEstimator


class Filler(Protocol):
    name: str
    max_margin: int
    fallbacks: list[str]

    def fill(self, crops: list[np.ndarray], masks: list[np.ndarray]) -> list[np.ndarray]: ...


class Restorer:
    """The inpainting stage of the pipeline; `observe` sees each segment before it is restored."""

    def __init__(self, filler: Filler, width: int, height: int, margin: int, kernel: int, iterations: int,
                 unblend: bool = True) -> None:
        self.filler = filler
        self.name = filler.name
        self.width, self.height = width, height
        self.margin = min(margin, filler.max_margin)
        self.kernel, self.iterations = kernel, iterations
        self.blend = BlendEstimator(width, height) if unblend else None
        self.memory = BackgroundMemory(width, height)
        self.paster = FeatherPaster()
        self.pixels = {"remembered": 0, "interpolated": 0, "unblended": 0, "inpainted": 0}

    @property
    def fallbacks(self) -> list[str]:
        return self.filler.fallbacks

    def expect(self, places: list[Detection], seeds: list[Seed] | None = None) -> None:
        """Marks known before streaming: remember the picture at their places from the first frame, so a
        mark's first visit to a spot (a jumping mark on a still camera) finds it already. `seeds`: their
        pictures from before the first frame, for a part of a longer video (`BackgroundMemory.seed`)."""
        self.memory.keep([c.box for p in places for c in self._crops([p])])
        self.memory.seed(seeds or [])

    def footprint(self, places: list[Detection]) -> list[Box]:
        """The boxes this restorer reads or paints in when every detection is one of `places` (and
        seeds' rings, `SEED_RING` around a place's mask, fall inside them)."""
        return reach([p.box for p in places], self.width, self.height, max(self.margin, SEED_RING), self.kernel,
                     self.iterations)

    def _crops(self, dets: list[Detection]) -> list[Crop]:
        return crops_for(dets, self.width, self.height, self.margin, self.kernel, self.iterations)

    def observe(self, frames: list[np.ndarray], dets: list[list[Detection]]) -> None:
        """Feed the blend estimator the pixels around this segment's marks."""
        if self.blend is None:
            return
        for frame, frame_dets in zip(frames, dets, strict=True):
            if frame_dets:
                self.blend.observe(frame, [c.box for c in self._crops(frame_dets)])

    def inpaint_batch(self, frames: list[np.ndarray], dets: list[list[Detection]]) -> list[np.ndarray]:
        """`frames`, restored in place where they have detections (a copy of every 1080p frame would
        cost more than restoring its mark); a caller that needs the original keeps a copy.

        Per masked pixel, in order of trust: the picture remembered from a frame that showed it
        (still camera); where the surroundings are smooth, their interpolation (this wins over un-blending,
        which there only adds its estimation noise, so detail hidden wholly under a mark over sky is lost);
        else the blend undone (semi-transparent mark), else the filler's guess.
        """
        jobs: list[tuple[int, Crop, np.ndarray, np.ndarray]] = []
        crops_per_frame = [self._crops(d) if d else [] for d in dets]
        masks = [self._full_mask(crops) for crops in crops_per_frame]
        for index, crops in enumerate(crops_per_frame):
            self.memory.next_frame(frames[index], masks[index], [c.box for c in crops])
            for crop in crops:
                jobs.append((index, crop, *self._known_pixels(frames[index], crop)))
            self.memory.remember(frames[index], masks[index])
        to_fill = [j for j in jobs if j[3].any()]
        filled = self.filler.fill([j[2] for j in to_fill], [j[3] for j in to_fill]) if to_fill else []
        by_job = {id(j): f for j, f in zip(to_fill, filled, strict=True)}
        for job in jobs:
            index, crop, region, remaining = job
            result = region
            if id(job) in by_job:
                result = cv2.copyTo(by_job[id(job)], remaining, region.copy())
            self.paster.paste(frames[index], crop, result)
        return frames

    def _full_mask(self, crops: list[Crop]) -> np.ndarray:
        mask = np.zeros((self.height, self.width), bool)
        for crop in crops:
            x1, y1, x2, y2 = crop.box
            mask[y1:y2, x1:x2] |= crop.mask > 0
        return mask

    def _known_pixels(self, frame: np.ndarray, crop: Crop) -> tuple[np.ndarray, np.ndarray]:
        """(crop with remembered, interpolated and un-blended pixels restored, mask of what is left to fill)."""
        x1, y1, x2, y2 = crop.box
        original = np.ascontiguousarray(frame[y1:y2, x1:x2])
        masked = int((crop.mask > 0).sum())
        recalled = self.memory.recall(crop.box, crop.mask)  # valid only inside the mask
        remembered = int(recalled[1].sum()) if recalled is not None else 0
        smooth = smooth_fill(original, crop.mask) if remembered < masked else None
        if smooth is not None:
            region, remaining = smooth, np.zeros_like(crop.mask)
        elif self.blend is not None:
            region, remaining = self.blend.undo(original, crop.box, crop.mask)
        else:
            region, remaining = original, crop.mask
        if recalled is not None:
            picture, valid = recalled
            region = cv2.copyTo(picture, valid.view(np.uint8), region.copy())
            remaining = np.where(valid, 0, remaining).astype(np.uint8)
        inpainted = int((remaining > 0).sum())
        self.pixels["remembered"] += remembered
        self.pixels["interpolated" if smooth is not None else "unblended"] += masked - remembered - inpainted
        self.pixels["inpainted"] += inpainted
        return region, remaining
