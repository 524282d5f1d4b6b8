"""The keyframes a video can be cut at, and the ones every result keeps.

A cleaned video gets an IDR frame wherever its source has a clean keyframe (thinned to one every
`MIN_GOP_SECONDS`). Why: a split job's children (`app.split`) then encode their parts with the same
frame types at the same places as one worker would, and with a few seconds of lead-in x264's
decisions on a part are those of the single run, bit for bit, so the joined video matches it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from app.errors import EncodeError, InputError
from app.media.process import INPUT_FENCE, run
from app.media.probe import PROBE_TIMEOUT_S, count_frames

MIN_GOP_SECONDS = 2.0  # forced IDR frames at least this far apart: each costs bits (one every 2 s made the
# bundled sample's 360p encode 4.1 % larger than x264's own choice), so a source's denser keyframes are thinned


def clean_keyframes(path: Path) -> tuple[int, list[int]]:
    """The video's frame count and the frames a stream copy can start at: keyframes that open a
    closed GOP (no frame after them in decode order is shown before them), numbered in display order."""
    try:
        done = subprocess.run(["ffprobe", "-v", "error", *INPUT_FENCE, "-select_streams", "v:0", "-show_entries",
                               "packet=pts,flags", "-of", "csv=p=0", str(path)],
                              capture_output=True, text=True, timeout=PROBE_TIMEOUT_S * 5)
    except subprocess.TimeoutExpired as exc:
        raise EncodeError(f"reading the keyframes: ffprobe took over {PROBE_TIMEOUT_S * 5:.0f}s") from exc
    if done.returncode != 0:
        raise InputError(f"cannot read the video's keyframes: {done.stderr.strip()[-300:]}")
    pts: list[int] = []
    keys: set[int] = set()
    for line in done.stdout.splitlines():
        value, _, flags = line.partition(",")
        if not value.lstrip("-").isdigit():
            raise InputError("the video's packets have no timestamps")
        if "K" in flags:
            keys.add(len(pts))
        pts.append(int(value))
    suffix_min = pts[:]
    for i in range(len(pts) - 2, -1, -1):
        suffix_min[i] = min(pts[i], suffix_min[i + 1])
    clean, seen_max = [], None
    for i, value in enumerate(pts):
        if i in keys and (seen_max is None or seen_max < value) and suffix_min[i] == value:
            clean.append(i)
        seen_max = value if seen_max is None else max(seen_max, value)
    return len(pts), clean


def kept_keyframes(keys: Sequence[int], fps: float) -> list[int]:
    """`keys` thinned from the first on, each at least `MIN_GOP_SECONDS` after the last kept: the frames a
    result is given IDR frames at, and the only ones a split cuts at."""
    kept: list[int] = []
    for key in sorted(keys):
        if not kept or key - kept[-1] >= MIN_GOP_SECONDS * fps:
            kept.append(key)
    return kept


def force_args(keyframes: Sequence[int], fps_rational: str) -> list[str]:
    """ffmpeg output options making these frames (numbered from the encoded stream's first) IDR frames.
    Each time is a quarter frame early: ffmpeg forces the first frame at or after it."""
    fps = Fraction(fps_rational)
    times = [f"{float((k - Fraction(1, 4)) / fps):.6f}" for k in sorted(set(keyframes)) if k > 0]
    return ["-force_key_frames", ",".join(times)] if times else []


SEGMENT_FORMATS = {".mkv": "matroska", ".mp4": "mp4"}


def segment(source: Path, points: Sequence[int], folder: Path, suffix: str, what: str, timeout: float) -> list[Path]:
    """`source`'s video stream copied into pieces in `folder` (made if missing), cut at frames `points`;
    the pieces in order. The segment muxer starts a piece at the first keyframe at or after its point,
    so a cut is where it was asked for only at a keyframe: callers check the pieces."""
    folder.mkdir(parents=True, exist_ok=True)
    args = ["ffmpeg", "-nostdin", "-y", "-v", "error", *INPUT_FENCE, "-i", str(source), "-map", "0:v:0", "-c", "copy",
            "-f", "segment", "-segment_format", SEGMENT_FORMATS[suffix], "-reset_timestamps", "1"]
    if points:
        args += ["-segment_frames", ",".join(map(str, points))]
    run([*args, str(folder / f"piece%05d{suffix}")], what, timeout)
    return sorted(folder.glob(f"piece*{suffix}"))


def trim(path: Path, keep: range, workdir: Path) -> None:
    """Replace `path` (a video alone, with IDR frames at `keep`'s ends) by its frames in `keep`, stream
    copied: the segment muxer cuts at the first keyframe at or after each given frame, so the cut is
    exact only at IDR frames, and the count is checked. Its pieces are removed whatever happens."""
    total = count_frames(path)
    what = f"cutting frames {keep.start}-{keep.stop - 1} out of the part's {total} encoded frames"
    points = [p for p in (keep.start, keep.stop) if 0 < p < total]
    pieces_dir = Path(tempfile.mkdtemp(prefix="trim-", dir=workdir))
    try:
        pieces = segment(path, points, pieces_dir, ".mp4", what, PROBE_TIMEOUT_S * 20)
        kept = 1 if keep.start > 0 else 0
        got = count_frames(pieces[kept]) if len(pieces) == len(points) + 1 else None
        if got != len(keep):
            raise EncodeError(f"{what} gave {len(pieces)} pieces ({got} frames in the kept one): the part lacks "
                              "an IDR frame at one of those ends")
        pieces[kept].replace(path)
    finally:
        shutil.rmtree(pieces_dir, ignore_errors=True)
