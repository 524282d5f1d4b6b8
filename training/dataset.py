"""The YOLO dataset: real backgrounds with synthetic marks composited on, degraded by a real encode.

Every image is drawn from its own generator seeded with (seed, split, index), and libx264 runs on
one thread with `-bitexact`, so the same seed rebuilds the same dataset bit for bit. Labels are the
exact boxes of each mark's visible pixels (one class, "watermark").
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
from loguru import logger

from scripts.footage import composite, mark_box
from training.assets import Assets
from training.marks import badge_mark, fit_width, icon_mark, random_text, rotate, text_mark

# Frame shapes real uploads come in: landscape, portrait (phone/Sora) and 4:3.
SHAPES = ((640, 360), (640, 360), (640, 360), (360, 640), (480, 360))
CRFS = (18, 23, 28, 33)
GROUP = 32  # images encoded together as one short video
MIN_BOX = 3  # px: a mark smaller than this after clipping is not labelled
BUSY_CANDIDATES = 4  # pictures, and places (by the usual rule), a busy sample picks the busiest of
T = TypeVar("T")


@dataclass(frozen=True)
class Placed:
    mark: np.ndarray
    x: int
    y: int
    opacity: float


@lru_cache(maxsize=64)
def _picture(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read background {path}")
    scale = min(1.0, 1600 / max(image.shape[:2]))
    if scale < 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def background(rng: np.random.Generator, path: Path, size: tuple[int, int]) -> np.ndarray:
    """A random crop of a real picture at `size` (w, h): zoomed, maybe flipped, exposure varied."""
    image = _picture(path)
    ih, iw = image.shape[:2]
    w, h = size
    fit = min(iw / w, ih / h)
    crop = fit / rng.uniform(1.0, 2.5)
    cw, ch = max(8, int(w * crop)), max(8, int(h * crop))
    x, y = int(rng.integers(0, iw - cw + 1)), int(rng.integers(0, ih - ch + 1))
    frame = cv2.resize(image[y : y + ch, x : x + cw], size, interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        frame = frame[:, ::-1]
    gain, bias = rng.uniform(0.7, 1.2), rng.uniform(-25, 25)
    return np.clip(frame.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)


def _position(rng: np.random.Generator, size: tuple[int, int], mark: np.ndarray) -> tuple[int, int]:
    """Corners most often, then edges, then anywhere; a margin of 1-6 % of the width."""
    w, h = size
    mh, mw = mark.shape[:2]
    margin = int(w * rng.uniform(0.01, 0.06))
    free_x, free_y = max(0, w - mw), max(0, h - mh)
    where = rng.random()
    if where < 0.6:
        x = min(margin, free_x) if rng.random() < 0.5 else max(0, free_x - margin)
        y = min(margin, free_y) if rng.random() < 0.5 else max(0, free_y - margin)
    elif where < 0.8:
        x = int(rng.integers(0, free_x + 1))
        y = min(margin, free_y) if rng.random() < 0.5 else max(0, free_y - margin)
    else:
        x, y = int(rng.integers(0, free_x + 1)), int(rng.integers(0, free_y + 1))
    return x, y


def random_mark(rng: np.random.Generator, assets: Assets, frame_width: int) -> np.ndarray:
    """Text, a logo, or a logo with a handle, 2-30 % of the frame width (small sizes more often)."""
    width = max(12, int(frame_width * np.exp(rng.uniform(np.log(0.02), np.log(0.30)))))
    font = assets.fonts[rng.integers(0, len(assets.fonts))]
    icon = assets.icons[rng.integers(0, len(assets.icons))]
    kind = rng.random()
    if kind < 0.4:
        mark = text_mark(rng, random_text(rng), font, 48)
    elif kind < 0.7:
        mark = icon_mark(rng, icon, 96)
    else:
        mark = badge_mark(rng, icon, font, 40)
    return fit_width(mark, width)


def busyness(picture: np.ndarray) -> np.ndarray:
    """Per pixel, the grey gradient's magnitude: how much detail a mark placed there sits over."""
    grey = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))


def random_placed(rng: np.random.Generator, assets: Assets, size: tuple[int, int],
                  detail: np.ndarray | None = None) -> Placed:
    """A random mark at a random place (corners most often), opacity 0.25-1; given `detail` (the
    picture's `busyness`), at the busiest of `BUSY_CANDIDATES` such places."""
    mark = random_mark(rng, assets, size[0])
    if detail is None:
        x, y = _position(rng, size, mark)
    else:
        mh, mw = mark.shape[:2]
        x, y = max((_position(rng, size, mark) for _ in range(BUSY_CANDIDATES)),
                   key=lambda p: float(detail[p[1] : p[1] + mh, p[0] : p[0] + mw].mean()))
    return Placed(mark, x, y, float(rng.uniform(0.25, 1.0)))


def tiled(rng: np.random.Generator, assets: Assets, size: tuple[int, int]) -> list[Placed]:
    """A stock-photo pattern: the same text repeated on a diagonal grid over the whole picture."""
    w, h = size
    font = assets.fonts[rng.integers(0, len(assets.fonts))]
    mark = rotate(fit_width(text_mark(rng, random_text(rng), font, 48), int(w * rng.uniform(0.15, 0.3))),
                  float(rng.uniform(-40, 40)))
    opacity = float(rng.uniform(0.2, 0.5))
    step_x, step_y = int(mark.shape[1] * rng.uniform(1.3, 2.0)), int(mark.shape[0] * rng.uniform(1.5, 3.0))
    placed = []
    for row, y in enumerate(range(-mark.shape[0] // 2, h, step_y)):
        for x in range(-(row % 2) * step_x // 2, w, step_x):
            placed.append(Placed(mark, x, y, opacity))
    return placed


def _clip(item: Placed, size: tuple[int, int]) -> Placed | None:
    """The part of a placed mark inside the frame, or None when too little of it is."""
    w, h = size
    mh, mw = item.mark.shape[:2]
    x1, y1 = max(0, item.x), max(0, item.y)
    x2, y2 = min(w, item.x + mw), min(h, item.y + mh)
    if x2 - x1 < MIN_BOX or y2 - y1 < MIN_BOX:
        return None
    part = item.mark[y1 - item.y : y2 - item.y, x1 - item.x : x2 - item.x]
    if not (part[:, :, 3] > 8).any() or (part[:, :, 3] > 8).sum() < 0.4 * (item.mark[:, :, 3] > 8).sum():
        return None
    return Placed(part, x1, y1, item.opacity)


@dataclass(frozen=True)
class Sample:
    """One picture before the encode: with its marks, without them, and each mark's box with its blend
    weight over that box (alpha x opacity), from which `visible_boxes` tells which marks survived the encode."""

    frame: np.ndarray
    clean: np.ndarray
    marks: list[tuple[tuple[int, int, int, int], np.ndarray]]


def make_sample(rng: np.random.Generator, assets: Assets, backgrounds: list[Path], busy_share: float = 0.0) -> Sample:
    """One picture and its marks: no mark, one or two marks, or a tiled pattern. A `busy_share` of the
    samples take the busiest of `BUSY_CANDIDATES` pictures and put their marks at the busiest places: a
    channel's bug sits over whatever the camera shows (a building, a crowd), and most wallpapers, and
    their corners, are smooth."""
    size = SHAPES[rng.integers(0, len(SHAPES))]
    busy = bool(busy_share) and rng.random() < busy_share
    pictures = [background(rng, backgrounds[rng.integers(0, len(backgrounds))], size)
                for _ in range(BUSY_CANDIDATES if busy else 1)]
    detail = None
    if busy:
        detail, clean = max(((busyness(p), p) for p in pictures), key=lambda pair: float(pair[0].mean()))
    else:
        clean = pictures[0]
    frame = clean
    roll = rng.random()
    if roll < 0.1:
        placed: list[Placed] = []
    elif roll < 0.16:
        placed = tiled(rng, assets, size)
    else:
        placed = [random_placed(rng, assets, size, detail) for _ in range(1 if roll < 0.85 else 2)]
    marks = []
    for item in placed:
        clipped = _clip(item, size)
        if clipped is None:
            continue
        frame = composite(frame, clipped.mark, clipped.x, clipped.y, clipped.opacity)
        x1, y1, x2, y2 = mark_box(clipped.mark, clipped.x, clipped.y)
        alpha = clipped.mark[y1 - clipped.y : y2 - clipped.y, x1 - clipped.x : x2 - clipped.x, 3]
        marks.append(((x1, y1, x2, y2), alpha.astype(np.float32) / 255 * clipped.opacity))
    if rng.random() < 0.25:
        factor = rng.uniform(0.4, 0.8)
        frame, clean = (cv2.resize(cv2.resize(f, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA), size,
                                   interpolation=cv2.INTER_LINEAR) for f in (frame, clean))
    return Sample(frame, clean, marks)


def contrast(encoded: np.ndarray, clean: np.ndarray, box: tuple[int, int, int, int], weight: np.ndarray) -> float:
    """How much a mark changes the picture where it lies, as the eye sees it: the colour difference
    (CIELAB distance, OpenCV's 8-bit scale) between the picture with the mark and without it, both
    through the same encode (so the codec's own error on busy scenery is not taken for the mark),
    averaged with the mark's blend weight. Lightness alone would miss a red logo on a green field of
    the same lightness."""
    x1, y1, x2, y2 = box
    lab = [cv2.cvtColor(np.ascontiguousarray(p[y1:y2, x1:x2]), cv2.COLOR_RGB2LAB).astype(np.float32)
           for p in (encoded, clean)]
    change = np.sqrt(((lab[0] - lab[1]) ** 2).sum(axis=2))
    return float((change * weight).sum() / max(float(weight.sum()), 1e-6))


def encoded_samples(batch: list[Sample], crf: int, clean: bool = True
                    ) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Each sample's picture with its marks and (when `clean`) without them after a real libx264 round trip
    at `crf` (the clean pictures as a video of their own, so the marked ones are what an encode of them gives)."""
    marked = [m for [m] in encoded_by_shape([[sample.frame] for sample in batch], crf)]
    if not clean:
        return [(m, None) for m in marked]
    return list(zip(marked, [c for [c] in encoded_by_shape([[sample.clean] for sample in batch], crf)], strict=True))


def visible_boxes(encoded: np.ndarray, clean: np.ndarray | None, sample: Sample, min_contrast: float
                  ) -> list[tuple[int, int, int, int]]:
    """The boxes of the marks still visible after the encode (`encoded`, and `clean` the same encode of
    the picture without them): a mark blended over a picture of its own colour, or faded into the
    encoder's noise, is no mark to find, and labelling it teaches the network to box plain scenery.
    With no `min_contrast` every mark is a label, and the clean encode is not needed."""
    if min_contrast <= 0:
        return [box for box, _ in sample.marks]
    if clean is None:
        raise ValueError("a minimum contrast needs the clean picture's encode")
    return [box for box, weight in sample.marks if contrast(encoded, clean, box, weight) >= min_contrast]


def x264_roundtrip(frames: list[np.ndarray], crf: int) -> list[np.ndarray]:
    """Frames of one size through a real libx264 encode and decode (deterministic: one thread, bitexact)."""
    h, w = frames[0].shape[:2]
    encode = ["ffmpeg", "-nostdin", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "25",
              "-i", "pipe:0", "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p",
              "-threads", "1", "-bitexact", "-f", "h264", "pipe:1"]
    coded = subprocess.run(encode, input=b"".join(np.ascontiguousarray(f).tobytes() for f in frames),
                           capture_output=True, check=True).stdout
    decode = ["ffmpeg", "-nostdin", "-v", "error", "-threads", "1", "-f", "h264", "-i", "pipe:0", "-f", "rawvideo",
              "-pix_fmt", "rgb24", "pipe:1"]
    raw = subprocess.run(decode, input=coded, capture_output=True, check=True).stdout
    return list(np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3))


def encoded_by_shape(items: list[list[np.ndarray]], crf: int) -> list[list[np.ndarray]]:
    """Each item's frames after a real libx264 round trip at `crf`, the items of one shape encoded
    together, in order, as one video (an encode per item would cost more than the rest of the build)."""
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for k, frames in enumerate(items):
        by_shape.setdefault(frames[0].shape, []).append(k)
    out: list[list[np.ndarray]] = [[] for _ in items]
    for members in by_shape.values():
        decoded = x264_roundtrip([f for k in members for f in items[k]], crf)
        for k in members:
            out[k], decoded = decoded[: len(items[k])], decoded[len(items[k]) :]
    return out


def seeded_groups(count: int, group: int, seed: list[int], make: Callable[[np.random.Generator], T]
                  ) -> Iterator[tuple[int, list[T], int]]:
    """Items 0..count-1, each made from its own generator seeded with `seed` + [index] (so any item can be
    rebuilt alone), in groups of `group`: (first index, items, the group's CRF)."""
    for start in range(0, count, group):
        items = [make(np.random.default_rng([*seed, i])) for i in range(start, min(count, start + group))]
        yield start, items, CRFS[np.random.default_rng([*seed, start, 7]).integers(0, len(CRFS))]


def yolo_lines(boxes: list, w: int, h: int) -> str:
    return "".join(f"0 {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}\n"
                   for x1, y1, x2, y2 in boxes)


def write_split(out: Path, split: str, count: int, seed: int, assets: Assets, backgrounds: list[Path],
                min_contrast: float, busy_share: float = 0.0) -> None:
    """`count` images and labels under out/images/<split> and out/labels/<split>; marks whose `contrast`
    after the encode is below `min_contrast` are not labelled; `busy_share`: see `make_sample`."""
    images, labels = out / "images" / split, out / "labels" / split
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    split_id = {"train": 0, "val": 1}[split]
    groups = seeded_groups(count, GROUP, [seed, split_id],
                           lambda rng: make_sample(rng, assets, backgrounds, busy_share))
    for start, batch, crf in groups:
        encoded = encoded_samples(batch, crf, clean=min_contrast > 0)
        for k, ((frame, clean), sample) in enumerate(zip(encoded, batch, strict=True)):
            index = start + k
            h, w = frame.shape[:2]
            cv2.imwrite(str(images / f"{index:06d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            (labels / f"{index:06d}.txt").write_text(yolo_lines(visible_boxes(frame, clean, sample, min_contrast), w, h))
        logger.info("{}: {}/{} images", split, min(count, start + GROUP), count)


def build(out: Path, train: int, val: int, seed: int, assets: Assets, min_contrast: float,
          busy_share: float = 0.0) -> Path:
    """The whole dataset and its `data.yaml`; returns the yaml's path."""
    write_split(out, "train", train, seed, assets, assets.train_backgrounds, min_contrast, busy_share)
    write_split(out, "val", val, seed, assets, assets.val_backgrounds, min_contrast, busy_share)
    data = out / "data.yaml"
    data.write_text(f"path: {out.resolve()}\ntrain: images/train\nval: images/val\nnames:\n  0: watermark\n")
    return data
