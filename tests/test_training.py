"""The training command (smoke: a few images, one epoch, seconds), the dataset's bit-for-bit rebuild,
and the shipped model card against the shipped weights. CI never trains for real."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime
import torch

from app.models import SHIPPED_WATERMARK_MODEL, watermark_reading
from app.config import Settings
from app.detection.text import MapDetector, exported_graph, export_onnx, load_watermark_model, map_predictor, watermark_network
from scripts.footage import clip_frames
from training import assets, dataset
from training.finetune import boxes_of

ROOT = Path(__file__).resolve().parent.parent


def test_smoke_training_writes_weights_card_and_curve(tmp_path: Path) -> None:
    out = tmp_path / "models"
    done = subprocess.run([sys.executable, "-m", "training", "--smoke", "--work", str(tmp_path / "work"), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    card = json.loads((out / "watermark-db.json").read_text())
    weights = out / "watermark-db.pt"
    assert card["recipe"]["epochs"] == 1 and card["recipe"]["train_images"] == 16
    assert card["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert set(card["validation"]) >= {"AP50", "precision", "recall", "threshold"}
    assert (out / "watermark-db-curve.png").stat().st_size > 1000
    assert card["onnx_sha256"] == hashlib.sha256((out / "watermark-db.onnx").read_bytes()).hexdigest()
    predict = map_predictor(watermark_network(weights))
    dets = MapDetector(predict, "cpu", 2, 320, 192).detect([np.zeros((192, 320, 3), np.uint8)] * 2)
    assert len(dets) == 2


def test_shipped_onnx_export_is_the_shipped_weights() -> None:
    """The CPU runs the card's ONNX export, CUDA the state dict: both must be one network."""
    weights = ROOT / "models" / "watermark-db.pt"
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["onnx_sha256"] == hashlib.sha256(weights.with_suffix(".onnx").read_bytes()).hexdigest()
    frames = np.stack([cv2.resize(f, (320, 192)) for f in itertools.islice(clip_frames("vtest.avi"), 0, 60, 20)])
    x = torch.from_numpy(np.ascontiguousarray(frames[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32) / 127.5 - 1.0)
    with torch.inference_mode():
        expected = load_watermark_model(weights)(x)[:, 0].numpy()
    got = map_predictor(watermark_network(weights))(frames, "cpu", False)
    assert got.shape == expected.shape and np.abs(got - expected).max() < 1e-4


def test_an_export_the_card_does_not_name_is_not_used(tmp_path: Path) -> None:
    """A stale ONNX file beside retrained weights would run a different network on the CPU: it is
    exported afresh instead, and that export matches the weights."""
    for name in ("watermark-db.pt", "watermark-db.json"):
        (tmp_path / name).write_bytes((ROOT / "models" / name).read_bytes())
    (tmp_path / "watermark-db.onnx").write_bytes(b"stale")
    graph = exported_graph(tmp_path / "watermark-db.pt")
    assert graph != b"stale"
    assert graph == export_onnx(load_watermark_model(tmp_path / "watermark-db.pt"))
    assert onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"]).get_inputs()[0].name == "x"

def test_dataset_rebuilds_bit_for_bit_with_exact_labels(tmp_path: Path) -> None:
    small = assets.load(small=True)
    for run in ("a", "b"):
        dataset.write_split(tmp_path / run, "train", 6, 7, small, small.train_backgrounds)
    for name in sorted(p.name for p in (tmp_path / "a" / "images" / "train").iterdir()):
        a, b = (tmp_path / run / "images" / "train" / name for run in ("a", "b"))
        assert a.read_bytes() == b.read_bytes()
    labelled = [boxes_of(p, 640, 360) for p in sorted((tmp_path / "a" / "labels" / "train").iterdir())]
    assert sum(len(b) for b in labelled) >= 4
    assert all(0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 640 for boxes in labelled for x1, y1, x2, y2 in boxes)


def test_validation_backgrounds_are_never_trained_on() -> None:
    small = assets.load(small=True)
    assert small.val_backgrounds and not set(small.val_backgrounds) & set(small.train_backgrounds)
    names = {p.name for p in small.train_backgrounds + small.val_backgrounds}
    assert all(Path(name).suffix.lower() in assets.IMAGE_SUFFIXES for name in names), "pictures only, no clip"


def test_shipped_card_describes_the_shipped_weights() -> None:
    weights = SHIPPED_WATERMARK_MODEL
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["model"] == weights.name and card["size_bytes"] == weights.stat().st_size < 20 * 1024**2
    assert card["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert card["recipe"]["model"] == "finetune" and card["train_seconds"] < 3 * 3600
    assert watermark_reading(weights, Settings(watermark_score=None)).box_score == card["validation"]["threshold"]
    assert watermark_reading(weights, Settings()).box_score == 0.8
    assert Settings().watermark_model is None, "the shipped weights are used without configuration"
