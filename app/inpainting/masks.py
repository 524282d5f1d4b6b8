"""Turning detections into crop regions and dilated masks, and pasting fills back without seams."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from app.detection.types import Box, Detection


SHAPE_KERNEL = np.ones((3, 3), np.uint8)
SHAPE_ITERATIONS = 2
CROP_QUANTUM = 32  # a detector's own mark mask is pixel-accurate: grow it just past anti-aliasing


@dataclass
class Crop:
    """A region of the frame to inpaint and the mask inside it (uint8 0/255)."""

    box: Box
    mask: np.ndarray


def dilation_pixels(kernel: int, iterations: int) -> int:
    """How far the dilation grows a mask on each side."""
    return (kernel // 2) * iterations


def _grow(start: int, stop: int, quantum: int, limit: int) -> tuple[int, int]:
    """Widen [start, stop) to a multiple of `quantum` (or the whole `limit`), staying inside 0..limit."""
    size = min(limit, -(-(stop - start) // quantum) * quantum)
    start = max(0, min(start - (size - (stop - start)) // 2, limit - size))
    return start, start + size


def quantized(box: Box, width: int, height: int, quantum: int = CROP_QUANTUM) -> Box:
    """`box` grown to sides that are multiples of `quantum`: a mark whose box jitters by a few pixels
    from frame to frame keeps one crop size, so its crops batch together in the model."""
    x1, x2 = _grow(box[0], box[2], quantum, width)
    y1, y2 = _grow(box[1], box[3], quantum, height)
    return x1, y1, x2, y2


def _grown(box: Box, by: int, width: int, height: int) -> Box:
    """`box` grown by `by` px on each side, inside the frame."""
    x1, y1, x2, y2 = box
    return max(0, x1 - by), max(0, y1 - by), min(width, x2 + by), min(height, y2 + by)


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _union(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _merged(rects: list[Box]) -> list[Box]:
    """Overlapping rectangles replaced by their bounding box, until none overlap."""
    out: list[Box] = []
    for rect in rects:
        while touching := [r for r in out if _overlap(r, rect)]:
            out = [r for r in out if r not in touching]
            for other in touching:
                rect = _union(rect, other)
        out.append(rect)
    return out


def reach(boxes: list[Box], width: int, height: int, margin: int, kernel: int, iterations: int) -> list[Box]:
    """Every pixel `crops_for` can put in a crop for detections at any of `boxes` (any of them in a
    frame): each group of boxes whose grown boxes overlap (which it may merge into one crop), as one
    rectangle grown by `CROP_QUANTUM` (quantizing widens a crop by less than that, and may shift it)."""
    grow = dilation_pixels(kernel, iterations) + margin
    groups = _merged([_grown(box, grow, width, height) for box in boxes])
    return _merged([_grown(group, CROP_QUANTUM, width, height) for group in groups])


def crops_for(dets: list[Detection], width: int, height: int, margin: int, kernel: int, iterations: int) -> list[Crop]:
    """One crop per group of overlapping detections: the boxes plus `margin`, with the dilated mask.

    Box-only detections (YOLO, regions) are dilated by `kernel` x `iterations`; a detection
    that carries its mark's own pixels is grown only slightly, so less picture is repainted.
    """
    grow = dilation_pixels(kernel, iterations)
    regions: list[tuple[Box, list[Detection]]] = []
    for det in dets:
        box = _grown(det.box, grow + margin, width, height)
        members = [det]
        merged = True
        while merged:
            merged = False
            for other in regions:
                if _overlap(other[0], box):
                    box = _union(box, other[0])
                    members += other[1]
                    regions.remove(other)
                    merged = True
                    break
        regions.append((box, members))
    crops = []
    box_kernel = np.ones((kernel, kernel), np.uint8)
    for region_box, members in regions:
        box = quantized(region_box, width, height)
        mask = np.zeros((box[3] - box[1], box[2] - box[0]), np.uint8)
        boxes = np.zeros_like(mask)
        for det in members:
            x1, y1, x2, y2 = det.box
            sl = (slice(y1 - box[1], y2 - box[1]), slice(x1 - box[0], x2 - box[0]))
            if det.mask is not None and det.mask.shape == mask[sl].shape:
                mask[sl][det.mask] = 255
            else:
                boxes[sl] = 255
        if mask.any():
            mask = cv2.dilate(mask, SHAPE_KERNEL, iterations=SHAPE_ITERATIONS)
        if iterations > 0 and boxes.any():
            boxes = cv2.dilate(boxes, box_kernel, iterations=iterations)
        crops.append(Crop(box, np.maximum(mask, boxes)))
    return crops


class FeatherPaster:
    """Blends fills into frames: fully inside the mask, fading out over `feather` px. The weights depend
    only on the crop's mask, which a decided mark keeps frame after frame and place after place, so they
    are made once per mask."""

    def __init__(self, feather: int = 7, keep: int = 32) -> None:
        self.feather, self.keep = feather, keep
        self._weights: dict[tuple[tuple[int, ...], bytes], tuple[np.ndarray, np.ndarray]] = {}

    def paste(self, frame: np.ndarray, crop: Crop, filled: np.ndarray) -> None:
        """Blend `filled` into `frame` at the crop, in place."""
        x1, y1, x2, y2 = crop.box
        weight, rest = self._weight(crop)
        frame[y1:y2, x1:x2] = cv2.blendLinear(np.ascontiguousarray(filled), np.ascontiguousarray(frame[y1:y2, x1:x2]),
                                              weight, rest)
        painted = getattr(frame, "painted", None)  # a decoded `app.media.reader.Frame`: its encoder converts only these
        if painted is not None:
            painted.append(crop.box)

    def _weight(self, crop: Crop) -> tuple[np.ndarray, np.ndarray]:
        key = (crop.mask.shape, np.packbits(crop.mask > 0).tobytes())  # not the place: a moving mark's crops share it
        if key not in self._weights:
            if len(self._weights) >= self.keep:
                self._weights.clear()
            hard = crop.mask.astype(np.float32) / 255.0
            soft = cv2.GaussianBlur(hard, (0, 0), self.feather / 2.0)
            weight = np.maximum(hard, np.clip(soft * 2.0, 0.0, 1.0))
            self._weights[key] = (weight, 1.0 - weight)
        return self._weights[key]
