"""The temporal dataset: short windows of frames as the worker's analysis pass sees them (samples about a
second apart), each with a target frame, its boxes, and the window's statistics the temporal detector
reads beside the frame (the per-pixel mean colour and the standard deviation of brightness).

A window is one to three shots of real pictures: a camera panning and zooming across a picture, or a
fixed camera (sensor noise, exposure drift, things moving through the scene), cut between. Marks are
the still dataset's (`training.dataset`), held at one place for the window or jumping between two or
three spots as some apps' marks do; the target frame's own marks are the labels. Degraded as the still
dataset is (downscaling, a real libx264 encode); seeded per window, so a dataset rebuilds bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from loguru import logger

from app.detection.text import window_stats
from scripts.footage import composite, mark_box
from training.assets import Assets
from training.dataset import SHAPES, Placed, _clip, _picture, _position, encoded_by_shape, random_placed, \
    seeded_groups, tiled, yolo_lines

WINDOW = 8  # the analysis pass's batch of samples
GROUP = 6  # windows of one shape encoded together as one video
STD_STORED = 2.0  # the brightness deviation is stored as a uint8 at this many levels per grey level


def window_length(rng: np.random.Generator) -> int:
    """Mostly a full batch; shorter ones are a video's last batch or a short clip (1: a still image)."""
    return WINDOW if rng.random() < 0.7 else int(rng.integers(1, WINDOW))


def _rect(rng: np.random.Generator, image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    ih, iw = image.shape[:2]
    w, h = size
    fit = min(iw / w, ih / h) / rng.uniform(1.0, 2.5)
    cw, ch = w * fit, h * fit
    return np.array([rng.uniform(0, iw - cw), rng.uniform(0, ih - ch), cw, ch])


def _crop(image: np.ndarray, rect: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    x, y, cw, ch = rect
    sx, sy = size[0] / cw, size[1] / ch
    matrix = np.array([[sx, 0, -x * sx], [0, sy, -y * sy]], np.float32)
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def _mover(rng: np.random.Generator, image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Something moving through a fixed camera's view: a soft-edged piece of a picture, and its alpha."""
    w, h = size
    pw, ph = int(w * rng.uniform(0.08, 0.3)), int(h * rng.uniform(0.15, 0.6))
    piece = _crop(image, _rect(rng, image, (pw, ph)), (pw, ph))
    alpha = np.zeros((ph, pw), np.float32)
    cv2.ellipse(alpha, (pw // 2, ph // 2), (pw // 2 - 1, ph // 2 - 1), 0, 0, 360, 1.0, -1)
    return piece, cv2.GaussianBlur(alpha, (0, 0), max(1.0, min(pw, ph) / 12))[..., None]


def _shot(rng: np.random.Generator, path: Path, size: tuple[int, int], count: int) -> list[np.ndarray]:
    """`count` samples of one shot: a pan/zoom across the picture, or a fixed camera with things moving."""
    image = _picture(path)
    if rng.random() < 0.5:
        image = np.ascontiguousarray(image[:, ::-1])
    gain, bias = rng.uniform(0.7, 1.2), rng.uniform(-25, 25)
    w, h = size
    frames = []
    if rng.random() < 0.55:
        start = _rect(rng, image, size)
        # to another view of the picture, or a drift of up to about a third of the view
        end = _rect(rng, image, size) if rng.random() < 0.5 else start + np.r_[rng.normal(0, 0.15, 2) * start[2:], 0, 0]
        for t in np.linspace(0.0, 1.0, count):
            frames.append(_crop(image, start + (end - start) * t, size).astype(np.float32))
    else:
        still = _crop(image, _rect(rng, image, size), size).astype(np.float32)
        movers = [(*_mover(rng, image, size), rng.uniform(-0.2, 1.0, 2) * [w, h], rng.uniform(-0.4, 0.4, 2) * [w, h])
                  for _ in range(int(rng.integers(0, 4)))]
        for i in range(count):
            frame = still * rng.uniform(0.97, 1.03) + rng.normal(0, rng.uniform(0.5, 3.0), still.shape)
            for piece, alpha, (x0, y0), (vx, vy) in movers:
                x, y = int(x0 + vx * i / max(1, count - 1)), int(y0 + vy * i / max(1, count - 1))
                ph, pw = piece.shape[:2]
                x1, y1, x2, y2 = max(0, x), max(0, y), min(w, x + pw), min(h, y + ph)
                if x2 > x1 and y2 > y1:
                    a = alpha[y1 - y : y2 - y, x1 - x : x2 - x]
                    frame[y1:y2, x1:x2] = frame[y1:y2, x1:x2] * (1 - a) + piece[y1 - y : y2 - y, x1 - x : x2 - x] * a
            frames.append(frame)
    return [np.clip(f * gain + bias, 0, 255).astype(np.uint8) for f in frames]


def _scenes(rng: np.random.Generator, backgrounds: list[Path], size: tuple[int, int], count: int) -> list[np.ndarray]:
    """One shot, or two or three cut together."""
    shots = 1 if count < 3 or rng.random() < 0.7 else int(rng.integers(2, 4))
    cuts = np.sort(rng.choice(np.arange(1, count), shots - 1, replace=False)) if shots > 1 else np.array([], int)
    frames: list[np.ndarray] = []
    for length in np.diff(np.r_[0, cuts, count]):
        frames += _shot(rng, backgrounds[rng.integers(0, len(backgrounds))], size, int(length))
    return frames


def _placements(rng: np.random.Generator, assets: Assets, size: tuple[int, int], count: int) -> list[list[Placed]]:
    """Per sample, the marks shown: none, a tiled pattern, or one or two marks, each still or jumping."""
    roll = rng.random()
    if roll < 0.1:
        return [[] for _ in range(count)]
    if roll < 0.16:
        return [tiled(rng, assets, size)] * count
    per_sample: list[list[Placed]] = [[] for _ in range(count)]
    for _ in range(1 if roll < 0.85 else 2):
        mark = random_placed(rng, assets, size)
        spots = [mark] + ([Placed(mark.mark, *_position(rng, size, mark.mark), mark.opacity)
                           for _ in range(int(rng.integers(1, 3)))] if rng.random() < 0.2 else [])
        run, offset = int(rng.integers(2, 5)), int(rng.integers(0, 4))
        for i in range(count):
            per_sample[i].append(spots[((i + offset) // run) % len(spots)])
    return per_sample


def make_window(rng: np.random.Generator, assets: Assets, backgrounds: list[Path]
                ) -> tuple[list[np.ndarray], int, list]:
    """A window of samples (before the encode), the index of its target sample, and that sample's boxes."""
    size = SHAPES[rng.integers(0, len(SHAPES))]
    count = window_length(rng)
    frames = _scenes(rng, backgrounds, size, count)
    shown = _placements(rng, assets, size, count)
    target = int(rng.integers(0, count))
    boxes = []
    for i, placed in enumerate(shown):
        for item in placed:
            clipped = _clip(item, size)
            if clipped is None:
                continue
            frames[i] = composite(frames[i], clipped.mark, clipped.x, clipped.y, clipped.opacity)
            if i == target:
                boxes.append(mark_box(clipped.mark, clipped.x, clipped.y))
    if rng.random() < 0.25:
        factor = rng.uniform(0.4, 0.8)
        frames = [cv2.resize(cv2.resize(f, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA), size,
                             interpolation=cv2.INTER_LINEAR) for f in frames]
    return frames, target, boxes


def write_split(out: Path, split: str, count: int, seed: int, assets: Assets, backgrounds: list[Path]) -> None:
    """`count` windows: target frames under images/<split>, labels under labels/<split>, statistics as
    4-channel PNGs (mean colour, deviation x STD_STORED) under windows/<split>."""
    dirs = {name: out / name / split for name in ("images", "labels", "windows")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    split_id = {"train": 2, "val": 3}[split]
    groups = seeded_groups(count, GROUP, [seed, split_id], lambda rng: make_window(rng, assets, backgrounds))
    for start, made, crf in groups:
        for k, (decoded, (_, target, boxes)) in enumerate(zip(encoded_by_shape([m[0] for m in made], crf), made,
                                                              strict=True)):
            window = np.stack(decoded)
            stats = window_stats(window)
            index = start + k
            h, w = window.shape[1:3]
            cv2.imwrite(str(dirs["images"] / f"{index:06d}.jpg"), cv2.cvtColor(window[target], cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            stored = np.concatenate([stats[..., 2::-1], np.clip(stats[..., 3:] * STD_STORED, 0, 255)], axis=2)
            cv2.imwrite(str(dirs["windows"] / f"{index:06d}.png"), np.round(stored).astype(np.uint8))
            (dirs["labels"] / f"{index:06d}.txt").write_text(yolo_lines(boxes, w, h))
        logger.info("{} windows: {}/{}", split, min(count, start + GROUP), count)


def stored_stats(path: Path) -> np.ndarray:
    """The statistics `write_split` stored, back as `window_stats` gives them (mean in RGB)."""
    stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.float32)
    return np.concatenate([stored[..., 2::-1], stored[..., 3:] / STD_STORED], axis=2)


def build(out: Path, train: int, val: int, seed: int, assets: Assets) -> Path:
    """The whole temporal dataset; returns its folder."""
    write_split(out, "train", train, seed, assets, assets.train_backgrounds)
    write_split(out, "val", val, seed, assets, assets.val_backgrounds)
    return out
