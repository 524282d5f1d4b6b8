"""Validation of the watermark detector on the held-out split, through the worker's own detector class:
AP50, and precision/recall at the operating threshold (the lowest box score that keeps precision at
or above the target, so recall is as high as it can be there); and per frame, what the pipeline
needs: a marked frame is found when every mark in it is at least 90 % covered by boxes, a frame's
boxes are right when each lies mostly on a mark."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from app.detection.text import MapDetector, Network, map_predictor
from app.detection.types import Reading, iou
from training.clips import stored_stats
from training.finetune import boxes_of

PROBABILITY = 0.5
TARGET_PRECISION = 0.95
MATCH_IOU = 0.5
COVERED = 0.9  # share of a mark's box the frame's boxes must cover for the frame to count as found
ON_MARK = 0.5  # share of a box that must lie on marks for it to count as right


def _detections(network: Network, data: Path, split: str) -> list[tuple[list, list]]:
    """Per image: (detections with their scores, true boxes). A windowed network reads each image's
    window statistics (the temporal dataset's `windows` folder), or on a dataset of still pictures those
    of the picture alone (a window of one, as a still image at run time); a frame-only one, the frame."""
    images = sorted((data / "images" / split).glob("*.jpg"))
    windows = data / "windows" / split
    predict = map_predictor(network)
    detectors: dict[tuple[int, int], MapDetector] = {}
    out = []
    for path in images:
        picture = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        h, w = picture.shape[:2]
        if (h, w) not in detectors:
            detectors[(h, w)] = MapDetector(predict, "cpu", 8, w, h, Reading(PROBABILITY, 0.05, 0.0), "trained",
                                            windowed=network.windowed)
        stored = windows / f"{path.stem}.png"
        stats = stored_stats(stored) if network.windowed and stored.is_file() else None
        dets = detectors[(h, w)].detect([picture], stats)[0]
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
    order = np.argsort(-np.asarray(scores), kind="stable")
    return np.asarray(scores)[order], np.asarray(hits, bool)[order], truths


def _covered(truth: tuple, boxes: list[tuple]) -> float:
    x1, y1, x2, y2 = truth
    inside = np.zeros((max(1, y2 - y1), max(1, x2 - x1)), bool)
    for bx1, by1, bx2, by2 in boxes:
        inside[max(0, by1 - y1) : max(0, by2 - y1), max(0, bx1 - x1) : max(0, bx2 - x1)] = True
    return float(inside.mean())


def _on_marks(box: tuple, truth: list[tuple]) -> float:
    area = max(1, (box[2] - box[0]) * (box[3] - box[1]))
    mask = np.zeros((box[3] - box[1], box[2] - box[0]), bool)
    for x1, y1, x2, y2 in truth:
        mask[max(0, y1 - box[1]) : max(0, y2 - box[1]), max(0, x1 - box[0]) : max(0, x2 - box[0])] = True
    return float(mask.sum() / area)


def per_frame(results: list[tuple[list, list]], threshold: float) -> dict:
    """Frame-level precision and recall of the boxes scoring at least `threshold`."""
    found = marked = right = flagged = 0
    for dets, truth in results:
        boxes = [d.box for d in dets if d.score >= threshold]
        if truth:
            marked += 1
            found += all(_covered(t, boxes) >= COVERED for t in truth)
        if boxes:
            flagged += 1
            right += all(_on_marks(b, truth) >= ON_MARK for b in boxes)
    return {"precision": round(right / max(1, flagged), 4), "recall": round(found / max(1, marked), 4),
            "marked_frames": marked, "threshold": threshold}


def evaluate(network: Network, data: Path, split: str = "val", reading_at: float | None = None) -> dict:
    """AP50 over box scores, the operating threshold with its precision and recall, and the per-frame
    figures at that threshold and at `reading_at` (the score the detection stack reads the map at)."""
    results = _detections(network, data, split)
    scores, hits, truths = _matches(results)
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
            "recall": round(float(recall[k]), 4) if len(recall) else 0.0, "true_boxes": truths,
            "per_frame": [per_frame(results, t) for t in sorted({round(threshold, 4), round(reading_at or threshold, 4)})]}


def main(argv: list[str] | None = None) -> None:
    """`python -m training.evaluate WEIGHTS`: the card's validation figures for any weights file."""
    from app.detection.text import watermark_network
    from training.train import AUTO_READING

    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=main.__doc__)
    parser.add_argument("weights", type=Path)
    parser.add_argument("--data", type=Path, default=Path(".cache/training/data"),
                        help="a dataset `make train` built: data (still pictures) or windows (the window stage's)")
    parser.add_argument("--reading-at", type=float, default=AUTO_READING, help="box score `auto` reads the map at")
    args = parser.parse_args(argv)
    print(json.dumps(evaluate(watermark_network(args.weights.resolve()), args.data, reading_at=args.reading_at)))


if __name__ == "__main__":
    main()
