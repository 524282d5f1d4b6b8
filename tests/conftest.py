"""Shared fixtures: real clips built once per session from opencv-doc's footage."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")

from scripts.footage import clip_frames, composite, logo_rgba, mark_box, pan_frames, text_rgba, write_clip  # noqa: E402

FPS = 25


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


def _build(path: Path, frames, fps: float, truth: dict | None = None, **kwargs) -> Path:
    if not path.exists():
        write_clip(frames, path, fps, **kwargs)
        if truth is not None:
            path.with_suffix(".json").write_text(json.dumps(truth))
    return path


@pytest.fixture(scope="session")
def pan_clean(clips: Path) -> Path:
    """6 s of a real photo panned and zoomed, 640x360, with a tone."""
    return _build(clips / "pan_clean.mkv", pan_frames("building.jpg", (640, 360), 6 * FPS, FPS), FPS, lossless=True)


@pytest.fixture(scope="session")
def pan_text(clips: Path) -> tuple[Path, Path, tuple[int, int, int, int]]:
    """The clean pan, and the same frames under semi-transparent white text (lossless both)."""
    mark = text_rgba("STOCK", 30)
    x, y = 420, 40
    frames = list(pan_frames("fruits.jpg", (640, 360), 6 * FPS, FPS))
    clean = _build(clips / "fruits_clean.mkv", frames, FPS, lossless=True)
    marked = _build(clips / "fruits_text.mkv", (composite(f, mark, x, y, 0.5) for f in frames), FPS, lossless=True)
    return clean, marked, mark_box(mark, x, y)


@pytest.fixture(scope="session")
def pan_logo(clips: Path) -> tuple[Path, tuple[int, int, int, int]]:
    """The building pan under an opaque opencv logo in the top-left corner."""
    logo = logo_rgba(72)
    frames = (composite(f, logo, 24, 24, 1.0) for f in pan_frames("building.jpg", (640, 360), 6 * FPS, FPS))
    return _build(clips / "pan_logo.mp4", frames, FPS), mark_box(logo, 24, 24)


@pytest.fixture(scope="session")
def vtest_clip(clips: Path) -> Path:
    """20 s of vtest.avi (fixed camera, people walking), re-encoded as is."""
    return _build(clips / "vtest.mp4", clip_frames("vtest.avi", 200), 10, audio=False)


def box_mask(box: tuple[int, int, int, int], shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[box[1] : box[3], box[0] : box[2]] = True
    return mask


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images (or regions), in dB."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))
