"""Weights-free detector: a watermark is made of edges that stay put while the picture under them changes.

Per window of frames (a few seconds, recomputed as the video goes so a mark that jumps
between spots is found at each spot), on grey frames scaled to at most 640 px wide:

* persistence: the fraction of frames in which a pixel's gradient points along the
  window's dominant direction there, signed (semi-transparent marks brighten or darken
  consistently) or unsigned (an opaque logo's edge flips sign with the background);
* change: the fraction of frames in which the neighbourhood differs from its mean.

Persistent edges where the picture changes are the mark. Persistent edges where nothing
changes (a fixed camera's buildings) cannot be told from a mark: they are not masked and
the detector says so in `notes`. Candidates are grouped into components, filtered by
size, and each frame keeps only the components whose edges it actually shows.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from app.detection.types import Detection, Detector, iou
from app.registry import BuildContext, Choice

ANALYSIS_WIDTH = 640
EDGE_STRENGTH = 40.0  # Sobel response on a 3x3-blurred grey image (levels x 4)
PERSISTENCE = 0.85
CHANGE_LEVEL = 4.0
CHANGING = 0.5
MIN_WINDOW_FRAMES = 24
MAX_WINDOW_SAMPLES = 32
STATIC_REFUSE_FRACTION = 0.02
GROUP_GAP = 17  # pixels (analysis scale) that join letters and logo parts into one mark
MIN_PIECE = 24  # candidate specks smaller than this (analysis pixels) are noise, not part of a mark
SHOWN_REMEMBERED = 0.5  # stricter for a mark this window did not find by itself
SHOWN = 0.3  # fraction of a mark's edge pixels a frame must show for the mark to be in it


Box = tuple[int, int, int, int]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """`mask` (uint8 0/1) with every region it encloses filled in."""
    padded = np.pad(mask, 1)
    outside = padded.copy()
    flood = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(outside, flood, (0, 0), 1)
    return (mask | (outside[1:-1, 1:-1] == 0)).astype(np.uint8)


def without_specks(binary: np.ndarray, min_area: int) -> np.ndarray:
    """`binary` (uint8 0/1) without 8-connected components smaller than `min_area` pixels: an edge
    that stays put by chance is noise, and masked it would be a dot of scenery repainted."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    keep = np.zeros(count, np.uint8)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return keep[labels]


@dataclass
class _Mark:
    """A mark seen in some window: its extent (analysis pixels), the edge template to look for it
    by (the pixels and dominant axes of its latest sighting), and its box and mask in source pixels."""

    box: Box
    mask: np.ndarray
    template_box: Box
    template: np.ndarray
    ax: np.ndarray
    ay: np.ndarray
    source_box: Box
    source_mask: np.ndarray


@dataclass
class _Sample:
    gray: np.ndarray
    gx: np.ndarray
    gy: np.ndarray


class StaticDetector(Detector):
    """Streaming detector; call `detect` on consecutive segments of one video."""

    name = "static"

    def __init__(self, width: int, height: int, fps: float, window_seconds: float, max_bbox_percent: float) -> None:
        self.width, self.height = width, height
        self.scale = min(1.0, ANALYSIS_WIDTH / width)
        self.window = max(MIN_WINDOW_FRAMES, round(fps * window_seconds))
        self.stride = max(1, -(-self.window // MAX_WINDOW_SAMPLES))
        self.max_bbox_percent = max_bbox_percent
        self.history: deque[_Sample] = deque(maxlen=-(-self.window // self.stride))
        self.frames_seen = 0
        super().__init__()
        self.fps = fps
        self.memory: list[_Mark] = []

    def _sample(self, frame: np.ndarray) -> _Sample:
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if self.scale < 1.0:
            gray = cv2.resize(gray, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA)
        gray = gray.astype(np.float32)
        blurred = cv2.GaussianBlur(gray, (3, 3), 0)
        return _Sample(gray, cv2.Sobel(blurred, cv2.CV_32F, 1, 0), cv2.Sobel(blurred, cv2.CV_32F, 0, 1))

    def detect(self, frames: list[np.ndarray]) -> list[list[Detection]]:
        """Boxes for each frame of this segment, in source pixels."""
        results: list[list[Detection]] = []
        for start in range(0, len(frames), self.window):
            chunk = frames[start : start + self.window]
            samples = {i: self._sample(f) for i, f in enumerate(chunk) if (self.frames_seen + i) % self.stride == 0}
            self.history.extend(samples.values())
            seen = {self._remember(*c) for c in self._components(list(self.history), self.frames_seen)}
            checks = [(mark, SHOWN if k in seen else SHOWN_REMEMBERED) for k, mark in enumerate(self.memory)]
            results.extend(self._per_frame(chunk, samples, checks))
            self.frames_seen += len(chunk)
        return results

    def _components(self, history: list[_Sample], first_frame: int) -> list[tuple[tuple[int, int, int, int], np.ndarray, np.ndarray, np.ndarray]]:
        """Mark components of this window: (analysis box, mask crop, axis x, axis y)."""
        if len(history) < 8:
            self._note("too few frames to tell a watermark from the picture; nothing masked")
            return []
        # Two passes over the samples with per-pixel accumulators: memory stays at a few
        # frame-sized arrays however many samples the window holds.
        n = len(history)
        mean_x, mean_y, mean_gray = np.zeros_like(history[0].gx), np.zeros_like(history[0].gx), np.zeros_like(history[0].gx)
        jxx, jxy, jyy = np.zeros_like(mean_x), np.zeros_like(mean_x), np.zeros_like(mean_x)
        for sample in history:
            mean_x += sample.gx
            mean_y += sample.gy
            mean_gray += sample.gray
            jxx += sample.gx * sample.gx
            jxy += sample.gx * sample.gy
            jyy += sample.gy * sample.gy
        mean_x /= n
        mean_y /= n
        mean_gray /= n
        strength = np.hypot(mean_x, mean_y)
        ux, uy = mean_x / (strength + 1e-6), mean_y / (strength + 1e-6)
        theta = 0.5 * np.arctan2(2 * jxy, jxx - jyy)
        ax, ay = np.cos(theta), np.sin(theta)
        signed_hits, unsigned_hits, changed = np.zeros_like(mean_x), np.zeros_like(mean_x), np.zeros_like(mean_x)
        half_strength = 0.5 * strength
        for sample in history:
            signed_hits += (sample.gx * ux + sample.gy * uy) > half_strength
            unsigned_hits += np.abs(sample.gx * ax + sample.gy * ay) > 1.5 * EDGE_STRENGTH
            changed += np.abs(sample.gray - mean_gray) > CHANGE_LEVEL
        signed = signed_hits / n * (strength > EDGE_STRENGTH)
        unsigned = unsigned_hits / n
        changed /= n
        persistent = (signed > PERSISTENCE) | (unsigned > PERSISTENCE)
        changing = cv2.blur(changed, (15, 15)) > CHANGING
        candidate = persistent & changing
        static = persistent & ~changing
        if static.mean() > STATIC_REFUSE_FRACTION:
            self._note(
                f"fixed camera at t={first_frame / self.fps:.1f}s: {100 * static.mean():.1f}% of the frame has edges "
                "that never change, so a watermark cannot be told from the scene; nothing masked there "
                "(pass regions to force boxes, or use a YOLO model)"
            )
            return []
        return self._group(candidate.astype(np.uint8), ax, ay)

    def _group(self, candidate: np.ndarray, ax: np.ndarray, ay: np.ndarray) -> list:
        h, w = candidate.shape
        closed = cv2.morphologyEx(candidate, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        closed = without_specks(closed, MIN_PIECE)
        grouped = cv2.dilate(closed, np.ones((GROUP_GAP, GROUP_GAP), np.uint8))
        count, labels, stats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
        max_area = self.max_bbox_percent / 100.0 * h * w
        min_pixels = max(40, int(0.0003 * h * w))
        components = []
        for label in range(1, count):
            x, y, bw, bh, _ = stats[label]
            inside = (labels[y : y + bh, x : x + bw] == label) & (closed[y : y + bh, x : x + bw] > 0)
            ys, xs = np.nonzero(inside)
            if len(ys) < min_pixels:
                continue
            x, y = x + int(xs.min()), y + int(ys.min())
            inside = inside[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
            bh, bw = inside.shape
            if bw * bh > max_area or len(ys) < 0.08 * bw * bh:
                continue
            components.append(((x, y, x + bw, y + bh), inside, ax[y : y + bh, x : x + bw], ay[y : y + bh, x : x + bw]))
        return components

    def _remember(self, box: Box, inside: np.ndarray, ax: np.ndarray, ay: np.ndarray) -> int:
        """Index of the remembered mark this component is; grows that mark to the union of what was seen.

        A window can miss part of a mark where the picture under that part happens not to change;
        the mark's shape does not change, so what earlier windows saw still holds. Remembered marks
        are looked for in every later frame, so a mark that jumps back to a known spot is found at once.
        """
        for k, mark in enumerate(self.memory):
            if iou(box, mark.box) >= 0.3:
                union = (min(box[0], mark.box[0]), min(box[1], mark.box[1]), max(box[2], mark.box[2]), max(box[3], mark.box[3]))
                mask = np.zeros((union[3] - union[1], union[2] - union[0]), bool)
                for b, m in ((box, inside), (mark.box, mark.mask)):
                    mask[b[1] - union[1] : b[3] - union[1], b[0] - union[0] : b[2] - union[0]] |= m
                self.memory[k] = _Mark(union, mask, box, inside, ax, ay, *self._to_source(*union, mask))
                return k
        self.memory.append(_Mark(box, inside, box, inside, ax, ay, *self._to_source(*box, inside)))
        return len(self.memory) - 1

    def _per_frame(self, chunk: list[np.ndarray], samples: dict[int, _Sample],
                   checks: list[tuple[_Mark, float]]) -> list[list[Detection]]:
        """Keep, per frame, the marks whose edges that frame shows (a mark may jump between spots)."""
        sampled = sorted(samples)
        out: list[list[Detection]] = []
        for i in range(len(chunk)):
            nearest = samples[min(sampled, key=lambda s: abs(s - i))]
            frame_dets = []
            for mark, threshold in checks:
                x1, y1, x2, y2 = mark.template_box
                response = np.abs(nearest.gx[y1:y2, x1:x2] * mark.ax + nearest.gy[y1:y2, x1:x2] * mark.ay)
                shown = float((response[mark.template] > 0.75 * EDGE_STRENGTH).mean())
                if shown >= threshold:
                    frame_dets.append(Detection(box=mark.source_box, score=shown, source=self.name, mask=mark.source_mask))
            out.append(frame_dets)
        return out

    def _to_source(self, x1: int, y1: int, x2: int, y2: int, inside: np.ndarray) -> tuple[tuple[int, int, int, int], np.ndarray]:
        """Box and mark mask in source pixels: edges found, closed shapes filled (a filled glyph's inside
        has no edges but is part of the mark), grown slightly to cover anti-aliasing."""
        s = self.scale
        box = (int(x1 / s), int(y1 / s), min(self.width, int(np.ceil(x2 / s))), min(self.height, int(np.ceil(y2 / s))))
        mask = cv2.dilate(fill_holes(inside.astype(np.uint8)), np.ones((3, 3), np.uint8))
        mask = cv2.resize(mask, (box[2] - box[0], box[3] - box[1]), interpolation=cv2.INTER_NEAREST) > 0
        return box, mask

    def _note(self, text: str) -> None:
        """Keep the first note of each kind (the text before the first colon or 'at t=')."""
        kind = text.split(" at t=")[0]
        if not any(n.split(" at t=")[0] == kind for n in self.notes):
            self.notes.append(text)


def build(ctx: BuildContext) -> Choice:
    """`static`: edge persistence alone."""
    s, info = ctx.settings, ctx.info
    return Choice(StaticDetector(info.width, info.height, info.fps, s.static_window_seconds, ctx.max_bbox_percent),
                  "static", "static requested")
