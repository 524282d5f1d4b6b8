"""`python -m training.visibility [WEIGHTS]`: how often a network boxes the held-out split's marks, by how
visible each mark is after the encode (`training.dataset.contrast`), every mark counted whatever the
recipe's `min_contrast` leaves out of the labels: the measurement `min_contrast` was chosen by. Pictures
go through the dataset's JPEG as `training.evaluate` reads them; a mark is found when a box matches it
(IoU >= MATCH_IOU) at any score, and at the score `auto` reads the map at."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from app.detection.text import MapDetector, map_predictor, watermark_network
from app.detection.types import Reading, iou
from app.models import SHIPPED_WATERMARK_MODEL
from training import dataset
from training.assets import load
from training.evaluate import MATCH_IOU, PROBABILITY
from training.train import AUTO_READING, Recipe

BINS = (0, 2, 4, 6, 10, 15, 25, 40, 1000)


def _as_stored(frame: np.ndarray) -> np.ndarray:
    """The picture as the dataset stores it (JPEG, quality 95) and reads it back."""
    _, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def found_by_contrast(weights: Path, recipe: Recipe = Recipe()) -> list[dict]:
    """Per contrast bin: the held-out marks in it, and the share a box matches at any score and at
    `AUTO_READING`. Frame-only networks: a windowed one reads statistics this split does not have."""
    network = watermark_network(weights)
    if network.windowed:
        raise SystemExit(f"{weights} reads a window's statistics; this measures frame-only networks")
    assets = load(small=recipe.small_assets)
    predict = map_predictor(network)
    detectors: dict[tuple[int, int], MapDetector] = {}
    contrasts, scores = [], []
    groups = dataset.seeded_groups(recipe.val_images, dataset.GROUP, [recipe.seed, 1],
                                   lambda rng: dataset.make_sample(rng, assets, assets.val_backgrounds))
    for _, batch, crf in groups:
        for (frame, clean), sample in zip(dataset.encoded_samples(batch, crf), batch, strict=True):
            h, w = frame.shape[:2]
            if (h, w) not in detectors:
                detectors[(h, w)] = MapDetector(predict, "cpu", 8, w, h, Reading(PROBABILITY, 0.05, 0.0), "trained")
            dets = detectors[(h, w)].detect([_as_stored(frame)])[0]
            for box, weight in sample.marks:
                contrasts.append(dataset.contrast(frame, clean, box, weight))
                scores.append(max((d.score for d in dets if iou(d.box, box) >= MATCH_IOU), default=0.0))
    c, s = np.asarray(contrasts), np.asarray(scores)
    rows = []
    for lo, hi in zip(BINS, BINS[1:]):
        matched = s[(c >= lo) & (c < hi)]
        share = (lambda found: round(float(found.mean()), 2) if len(matched) else None)
        rows.append({"contrast": f"{lo}-{hi}", "marks": len(matched), "found": share(matched > 0),
                     f"found_at_{AUTO_READING}": share(matched >= AUTO_READING)})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.visibility", description=__doc__)
    parser.add_argument("weights", type=Path, nargs="?", default=SHIPPED_WATERMARK_MODEL)
    args = parser.parse_args(argv)
    for row in found_by_contrast(args.weights.resolve()):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
