"""`python -m training.visibility [WEIGHTS]`: how often a network boxes the held-out split's marks, by how
visible each mark is after the encode (`training.dataset.contrast`), every mark counted whatever the
recipe's `min_contrast` left out of the labels. It is the measurement that chose `min_contrast`: below
it, marks are found about as rarely as chance overlaps would find them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from app.detection.text import MapDetector, map_predictor, watermark_network
from app.detection.types import Reading, iou
from app.models import SHIPPED_WATERMARK_MODEL
from training import dataset
from training.assets import load
from training.evaluate import MATCH_IOU, PROBABILITY
from training.train import Recipe

BINS = (0, 2, 4, 6, 10, 15, 25, 40, 1000)


def found_by_contrast(weights: Path, recipe: Recipe = Recipe()) -> list[dict]:
    """Per contrast bin: the held-out marks in it and the share a box matches (IoU >= MATCH_IOU)."""
    assets = load(small=recipe.small_assets)
    predict = map_predictor(watermark_network(weights))
    detectors: dict[tuple[int, int], MapDetector] = {}
    contrasts, matched = [], []
    groups = dataset.seeded_groups(recipe.val_images, dataset.GROUP, [recipe.seed, 1],
                                   lambda rng: dataset.make_sample(rng, assets, assets.val_backgrounds))
    for _, batch, crf in groups:
        for [frame], sample in zip(dataset.encoded_by_shape([[s.frame] for s in batch], crf), batch, strict=True):
            h, w = frame.shape[:2]
            if (h, w) not in detectors:
                detectors[(h, w)] = MapDetector(predict, "cpu", 8, w, h, Reading(PROBABILITY, 0.05, 0.0), "trained")
            dets = detectors[(h, w)].detect([frame])[0]
            for box, weight in sample.marks:
                contrasts.append(dataset.contrast(frame, sample.clean, box, weight))
                matched.append(any(iou(d.box, box) >= MATCH_IOU for d in dets))
    c, m = np.asarray(contrasts), np.asarray(matched)
    rows = []
    for lo, hi in zip(BINS, BINS[1:]):
        inside = (c >= lo) & (c < hi)
        rows.append({"contrast": f"{lo}-{hi}", "marks": int(inside.sum()),
                     "found": round(float(m[inside].mean()), 2) if inside.any() else None})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.visibility", description=__doc__)
    parser.add_argument("weights", type=Path, nargs="?", default=SHIPPED_WATERMARK_MODEL)
    args = parser.parse_args(argv)
    for row in found_by_contrast(args.weights.resolve()):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
