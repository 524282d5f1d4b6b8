"""Where to cut: parts of whole GOPs, each with a lead-in and lead-out from its neighbours."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from app.errors import InputError

ENCODER_LEAD_FRAMES = 100  # lead-in after which x264 encodes a part's frames as the single run did, bit for bit
# (its rate control forgets where it started: measured on 360p footage, 100 frames gave every frame, 50 half)


def overlap_frames(seconds: float, fps: float) -> int:
    """The lead-in and lead-out each part gets: `seconds` of context for detection and restoration, and
    at least `ENCODER_LEAD_FRAMES` for the encoder."""
    return max(round(seconds * fps), ENCODER_LEAD_FRAMES)


@dataclass(frozen=True)
class Part:
    """One child's share. Frame numbers count the whole video's frames in display order.
    The child gets frames [first, first + frames) and keeps [keep_first, keep_first + keep_frames)
    of them, counted from its own first frame."""

    index: int
    first: int
    frames: int
    keep_first: int
    keep_frames: int

    @property
    def end(self) -> int:
        return self.first + self.frames


def plan_parts(keyframes: Sequence[int], total: int, count: int, overlap: int) -> list[Part]:
    """Cut frames [0, total) at the keyframes nearest to `count` equal shares (fewer parts when the
    video has too few keyframes) and reach each part's segment `overlap` frames into its neighbours,
    rounded out to keyframes, so every cut is a stream copy."""
    keys = sorted({k for k in keyframes if 0 <= k < total})
    if not keys or keys[0] != 0:
        raise InputError("cannot split this video: its first frame is not a keyframe")
    bounds = [0]
    for share in range(1, count):
        target = round(share * total / count)
        at = bisect_left(keys, target)
        near = min(keys[max(0, at - 1): at + 1], key=lambda k: abs(k - target))
        if bounds[-1] < near < total:
            bounds.append(near)
    bounds.append(total)
    parts = []
    for index, (start, stop) in enumerate(zip(bounds, bounds[1:])):
        first = keys[bisect_right(keys, max(0, start - overlap)) - 1]
        after = bisect_left(keys, stop + overlap)
        end = keys[after] if after < len(keys) else total
        parts.append(Part(index, first, end - first, start - first, stop - start))
    return parts


def cut_points(parts: Sequence[Part]) -> list[int]:
    """The frames at which some part's segment starts or ends (0 and the video's end left out): the
    source is cut there once, and each part's segment is a run of those pieces."""
    total = max(p.end for p in parts)
    return sorted(({p.first for p in parts} | {p.end for p in parts}) - {0, total})
