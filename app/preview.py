"""The preview picture: a few frames across the video with this run's masks outlined, and the
cleaned crop next to the original, so a run can be judged without downloading the video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from app.detection.types import Detection

OUTLINE = (255, 40, 40)  # RGB
TILE_WIDTH = 480
CROP_HEIGHT = 160
MARGIN = 24


def outlined(frame: np.ndarray, dets: list[Detection]) -> np.ndarray:
    """`frame` with each detection's mask (or box, when it has none) outlined."""
    out = frame.copy()
    for det in dets:
        x1, y1, x2, y2 = det.box
        if det.mask is None:
            cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), OUTLINE, 2)
            continue
        contours, _ = cv2.findContours(det.mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, OUTLINE, 2, offset=(x1, y1))
    return out


def _fit(picture: np.ndarray, width: int | None = None, height: int | None = None) -> np.ndarray:
    h, w = picture.shape[:2]
    scale = width / w if width else height / h
    return cv2.resize(picture, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _label(picture: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((20, picture.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, picture])


class PreviewSheet:
    """Collects `count` evenly spaced frames of a video as it streams by, then writes one picture."""

    def __init__(self, total_frames: int, count: int = 4) -> None:
        self.picks = sorted({min(total_frames - 1, round((k + 0.5) * total_frames / count)) for k in range(count)})
        self.rows: list[np.ndarray] = []

    def wants(self, index: int) -> bool:
        return index in self.picks

    def add(self, index: int, original: np.ndarray, dets: list[Detection], cleaned: np.ndarray) -> None:
        left = _label(_fit(outlined(original, dets), width=TILE_WIDTH), f"frame {index}: masks outlined")
        if dets:
            h, w = original.shape[:2]
            x1 = max(0, min(d.box[0] for d in dets) - MARGIN)
            y1 = max(0, min(d.box[1] for d in dets) - MARGIN)
            x2, y2 = min(w, max(d.box[2] for d in dets) + MARGIN), min(h, max(d.box[3] for d in dets) + MARGIN)
            pair = np.concatenate([_fit(original[y1:y2, x1:x2], height=CROP_HEIGHT),
                                   np.full((CROP_HEIGHT, 6, 3), 255, np.uint8),
                                   _fit(cleaned[y1:y2, x1:x2], height=CROP_HEIGHT)], axis=1)
            right = _label(pair, "original | cleaned")
        else:
            right = _label(np.full((CROP_HEIGHT, CROP_HEIGHT * 2, 3), 230, np.uint8), "no mark in this frame")
        height = max(left.shape[0], right.shape[0])
        pad = lambda p: np.pad(p, ((0, height - p.shape[0]), (0, 0), (0, 0)), constant_values=255)  # noqa: E731
        self.rows.append(np.concatenate([pad(left), np.full((height, 8, 3), 255, np.uint8), pad(right)], axis=1))

    def save(self, path: Path) -> None:
        """Write the rows (JPEG or PNG by the suffix of `path`)."""
        width = max(r.shape[1] for r in self.rows)
        rows = [np.pad(r, ((0, 8), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in self.rows]
        if not cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows), cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write the preview {path.name}")
