"""Benchmark clips: real footage with known watermarks, the clean original and per-frame truth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from scripts.footage import clip_frames, composite, logo_rgba, mark_box, pan_frames, text_rgba, write_clip


@dataclass
class Clip:
    name: str
    description: str
    clean: Path
    marked: Path
    truth: list[list[tuple[int, int, int, int]]]  # per frame, boxes (x1, y1, x2, y2)
    fps: float


def sora_mark() -> np.ndarray:
    """A Sora-style mark: a small cloud-like glyph and the word, white, soft."""
    text = text_rgba("Sora", 26)
    glyph = np.zeros((text.shape[0], text.shape[0] + 6, 4), np.uint8)
    c = text.shape[0] // 2
    for dx, r in ((-6, 7), (0, 10), (7, 7)):
        cv2.circle(glyph, (c + 3 + dx, c + 2), r, (255, 255, 255, 255), -1, cv2.LINE_AA)
    return np.concatenate([glyph, np.zeros((text.shape[0], 6, 4), np.uint8), text], axis=1)


def _build(work: Path, name: str, description: str, frames: list[np.ndarray], fps: float,
           placements: list[list[tuple[np.ndarray, int, int, float]]]) -> Clip:
    """Composite per-frame placements (mark, x, y, opacity); save clean, marked, truth and mask PNGs."""
    clean, marked = work / f"{name}_clean.mkv", work / f"{name}.mp4"
    truth = [[mark_box(m, x, y) for m, x, y, _ in p] for p in placements]
    if not marked.exists():
        write_clip(frames, clean, fps, audio=False, lossless=True)
        out = []
        for frame, place in zip(frames, placements, strict=True):
            for mark, x, y, opacity in place:
                frame = composite(frame, mark, x, y, opacity)
            out.append(frame)
        write_clip(out, marked, fps, audio=True, crf=14)
        spots = {(x, y): m for p in placements for m, x, y, _ in p}
        for i, ((x, y), m) in enumerate(spots.items()):
            mask = np.zeros(frames[0].shape[:2], np.uint8)
            h, w = m.shape[:2]
            mask[y : y + h, x : x + w] = (m[:, :, 3] > 8) * 255
            cv2.imwrite(str(work / f"{name}_mask{i}.png"), mask)
        (work / f"{name}_truth.json").write_text(json.dumps({"fps": fps, "frames": truth}))
    return Clip(name, description, clean, marked, truth, fps)


def build_all(work: Path) -> list[Clip]:
    work.mkdir(parents=True, exist_ok=True)
    clips = []
    vt = list(clip_frames("vtest.avi", 120))
    logo = logo_rgba(72)
    clips.append(_build(work, "vtest_logo", "vtest.avi (fixed camera), opaque opencv logo", vt, 10,
                        [[(logo, 680, 16, 1.0)]] * len(vt)))
    tree = list(clip_frames("tree.avi", 150))
    stock = text_rgba("stock", 22)
    clips.append(_build(work, "tree_text", "tree.avi (near-still camera), semi-transparent white text", tree, 15,
                        [[(stock, 150, 190, 0.5)]] * len(tree)))
    pan = list(pan_frames("building.jpg", (640, 360), 150, 25))
    bug = logo_rgba(40)
    clips.append(_build(work, "building_bug", "building.jpg panned, small corner bug (80% opaque)", pan, 25,
                        [[(bug, 590, 300, 0.8)]] * len(pan)))
    sky = list(pan_frames("starry_night.jpg", (640, 360), 150, 25))
    text = text_rgba("SHUTTERSTOCK", 30)
    clips.append(_build(work, "starry_text", "starry_night.jpg panned, semi-transparent white text", sky, 25,
                        [[(text, 170, 160, 0.45)]] * len(sky)))
    fruit = list(pan_frames("fruits.jpg", (640, 360), 200, 25))
    sora = sora_mark()
    spots = [(24, 24), (470, 160), (40, 300)]
    placements = [[(sora, *spots[int(i / 25 / 2.5) % 3], 0.6)] for i in range(len(fruit))]
    clips.append(_build(work, "fruits_sora", "fruits.jpg panned, Sora-style mark jumping between 3 spots every 2.5 s",
                        fruit, 25, placements))
    return clips
