"""Temporal tracking: link per-frame boxes into tracks, bridge gaps, extend, drop flickers.

Detectors miss a mark for a frame or two and fire on a passing texture for a frame or two;
a watermark lives for many frames in one place. Tracks fix both. `track` is a pure
function over a list of frames; `StreamingTracker` runs it over a sliding window so a
video of any length needs only a bounded context of boxes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from app.detection.types import Detection, iou


@dataclass(frozen=True)
class TrackParams:
    """Defaults from the seed: look back 9 frames, ahead 1.5 s, 15% of the diagonal, gap 5."""

    look_back: int = 9
    look_ahead: int = 45
    position_threshold: float = 0.15
    max_gap: int = 5
    min_frames: int = 3
    link_iou: float = 0.3


@dataclass
class _Track:
    dets: dict[int, Detection] = field(default_factory=dict)

    @property
    def first(self) -> int:
        return min(self.dets)

    @property
    def last(self) -> int:
        return max(self.dets)


def _centre_distance(a: Detection, b: Detection) -> float:
    ax, ay = (a.box[0] + a.box[2]) / 2, (a.box[1] + a.box[3]) / 2
    bx, by = (b.box[0] + b.box[2]) / 2, (b.box[1] + b.box[3]) / 2
    return math.hypot(ax - bx, ay - by)


def _link(frames: list[list[Detection]], diagonal: float, params: TrackParams) -> list[_Track]:
    tracks: list[_Track] = []
    for index, dets in enumerate(frames):
        taken: set[int] = set()
        for det in sorted(dets, key=lambda d: -d.score):
            best, best_key = None, None
            for t, tr in enumerate(tracks):
                if t in taken or index - tr.last > params.max_gap + 1:
                    continue
                prev = tr.dets[tr.last]
                overlap = iou(prev.box, det.box)
                distance = _centre_distance(prev, det)
                same_size = 0.5 <= (det.area + 1) / (prev.area + 1) <= 2.0
                if overlap >= params.link_iou or (same_size and distance <= params.position_threshold * diagonal):
                    key = (overlap, -distance)
                    if best_key is None or key > best_key:
                        best, best_key = t, key
            if best is None:
                tracks.append(_Track({index: det}))
                taken.add(len(tracks) - 1)
            else:
                tracks[best].dets[index] = det
                taken.add(best)
    return tracks


def track(frames: list[list[Detection]], width: int, height: int, params: TrackParams) -> list[list[Detection]]:
    """Tracked detections for each frame of `frames` (same length)."""
    diagonal = math.hypot(width, height)
    tracks = [t for t in _link(frames, diagonal, params) if len(t.dets) >= params.min_frames]
    out: list[list[Detection]] = [[] for _ in frames]
    for tr in tracks:
        first, last = tr.first, tr.last
        predecessors = [o.last for o in tracks if o is not tr and o.last < first]
        successors = [o.first for o in tracks if o is not tr and o.first > last]
        start = max([first - params.look_back, 0, *[p + 1 for p in predecessors]])
        stop = min([last + params.look_ahead, len(frames) - 1, *[s - 1 for s in successors]])
        current = tr.dets[first]
        for index in range(start, stop + 1):
            if index in tr.dets:
                current = tr.dets[index]
                out[index].append(current)
            else:
                out[index].append(replace(current, score=0.0))
    return out


class StreamingTracker:
    """Feeds `track` a sliding window: frames are final once `ahead` later frames are known."""

    def __init__(self, width: int, height: int, params: TrackParams) -> None:
        self.width, self.height, self.params = width, height, params
        self.back = params.look_back + 2 * (params.max_gap + params.min_frames)
        self.ahead = params.look_ahead + 2 * (params.max_gap + params.min_frames)
        self.raw: list[list[Detection]] = []
        self.offset = 0
        self.done = 0

    def push(self, frames: list[list[Detection]]) -> Iterator[tuple[int, list[Detection]]]:
        """Add raw detections; yield (frame index, tracked detections) for frames now final."""
        self.raw.extend(frames)
        yield from self._emit(self.offset + len(self.raw) - self.ahead)

    def finish(self) -> Iterator[tuple[int, list[Detection]]]:
        """Yield every remaining frame (end of video)."""
        yield from self._emit(self.offset + len(self.raw))

    def _emit(self, upto: int) -> Iterator[tuple[int, list[Detection]]]:
        if upto <= self.done:
            return
        tracked = track(self.raw, self.width, self.height, self.params)
        for index in range(self.done, upto):
            yield index, tracked[index - self.offset]
        self.done = upto
        drop = max(0, self.done - self.back - self.offset)
        del self.raw[:drop]
        self.offset += drop
