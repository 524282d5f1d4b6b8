"""Validation of the watermark detector on the held-out split, through the worker's own detector class:
AP50, and precision/recall at the operating threshold (the lowest box score that keeps precision at
or above the target, so recall is as high as it can be there)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import torch

from app.detection.text import MapDetector, torch_predictor
from app.detection.types import Reading, iou
from training.finetune import boxes_of

PROBABILITY = 0.5
TARGET_PRECISION = 0.95
MATCH_IOU = 0.5


def _detections(model: torch.nn.Module, data: Path, split: str) -> list[tuple[list, list]]:
    """Per image: (detections with their scores, true boxes)."""
    images = sorted((data / "images" / split).glob("*.jpg"))
    by_shape: dict[tuple[int, int], list[tuple[Path, np.ndarray]]] = defaultdict(list)
    for path in images:
        picture = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        by_shape[picture.shape[:2]].append((path, picture))
    out = []
    for (h, w), items in by_shape.items():
        detector = MapDetector(torch_predictor(model), "cpu", 8, w, h, Reading(PROBABILITY, 0.05, 0.0), "trained")
        found = detector.detect([p for _, p in items])
        for (path, _), dets in zip(items, found, strict=True):
            out.append((dets, boxes_of(data / "labels" / split / f"{path.stem}.txt", w, h)))
    return out


def _matches(results: list[tuple[list, list]]) -> tuple[np.ndarray, np.ndarray, int]:
    """Scores of all detections, whether each matched a true box (greedy by score), and the truth count."""
    scores, hits, truths = [], [], 0
    for dets, truth in results:
        truths += len(truth)
        taken: set[int] = set()
        for det in sorted(dets, key=lambda d: -d.score):
            best = max(range(len(truth)), key=lambda t: iou(det.box, truth[t]), default=None)
            ok = best is not None and best not in taken and iou(det.box, truth[best]) >= MATCH_IOU
            if ok:
                taken.add(best)
            scores.append(det.score)
            hits.append(ok)
    order = np.argsort(-np.asarray(scores))
    return np.asarray(scores)[order], np.asarray(hits, bool)[order], truths


def evaluate(model: torch.nn.Module, data: Path, split: str = "val") -> dict:
    """AP50 over box scores, and the operating threshold with its precision and recall."""
    scores, hits, truths = _matches(_detections(model, data, split))
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    recall = tp / max(1, truths)
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    ap = float(np.sum(np.diff(np.concatenate([[0.0], recall])) * envelope)) if len(recall) else 0.0
    good = np.nonzero(precision >= TARGET_PRECISION)[0]
    k = int(good.max()) if len(good) else int(np.argmax(precision)) if len(precision) else 0
    threshold = float(scores[k]) if len(scores) else 1.0
    return {"AP50": round(ap, 4), "threshold": round(threshold, 4),
            "precision": round(float(precision[k]), 4) if len(precision) else 0.0,
            "recall": round(float(recall[k]), 4) if len(recall) else 0.0, "true_boxes": truths}
