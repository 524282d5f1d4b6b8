"""The picture behind a mark, remembered from frames where it was visible.

A mark that moves or jumps on a still camera (the Sora mark does) uncovers the picture it hid; a
camera that moves under a mark that stays put shows, a few frames earlier, the picture that is now
under the mark. Those pixels, remembered from the last frame that showed them (and moved with the
picture when the camera moves), are the truth for later frames: exact where inpainting can only
guess, and free of flicker.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from app.detection.types import Box, iou

STILL_LEVEL = 1.5  # median absolute grey change between frames (outside masks) below which the camera is still
DRIFT = 2.0  # source px the picture may have shifted since the camera stood still (slow pans over flat colour)
LOCKED = 0.3  # phase-correlation response above which that shift is the camera's (below: people, noise, sway)
PROBE_WIDTH = 320
MAX_SPOTS = 8  # places kept in memory: a jumping mark has a few; a moving one is followed by its latest crops
SAME_SPOT = 0.5  # a crop overlapping a kept place this much (IoU) replaces it
BAND = 0.5  # of a place's short side (at least MIN_BAND px): the picture around it its motion is read from
MIN_BAND = 16
REANCHOR = 0.25  # of the band: a place's motion is read against a new reference picture past this shift
TRACKED = 0.2  # phase-correlation response above which the motion read at a place is taken (the check after it decides)
AGREE = 6.0  # median grey difference between the remembered picture around a mark, moved, and the frame
MIN_RING = 64  # remembered pixels around a mark needed to check that the motion read there is right
FIT = 0.9  # ECC's correlation of the moved picture with the frame, for a motion to be taken
MOSTLY_HIDDEN = 0.7  # share of a place's surroundings under marks beyond which its motion is not read
FADE = 3.0  # px: the reading's window fades to zero over this distance before a mark


@dataclass
class _Track:
    """How far the picture at one place has moved, read against a reference picture of the place
    (not frame to frame, so sub-pixel errors do not add up); `applied` is the whole-pixel part
    already applied to the remembered picture."""

    region: Box
    hidden: np.ndarray  # the pixels left out of the reading (marks), the same in both pictures compared
    anchor: np.ndarray
    anchor_total: tuple[float, float]
    total: tuple[float, float]
    applied: tuple[int, int]


class BackgroundMemory:
    """Per-pixel last unmasked value and when it was seen, kept only at the places marks were (their
    crops: the mark with its margin), so the cost follows the marks' own area however far they travel.
    While the camera stands still the memory holds as it is; when it moves, each place's picture is
    moved with the motion read around that place, and kept only while the moved picture still agrees
    with the frame around the mark."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.values: np.ndarray | None = None
        self.seen = np.full((height, width), -1, np.int32)
        self.frame = -1
        self.still_since = 0
        self._previous: np.ndarray | None = None
        self._anchor: np.ndarray | None = None  # the probe picture when the camera last stood still
        self._window: np.ndarray | None = None
        self._grey: np.ndarray | None = None  # the last frame in grey, and where marks hid it
        self._hidden: np.ndarray | None = None
        self._tracks: dict[Box, _Track] = {}
        self.scale = min(1.0, PROBE_WIDTH / width)
        self.spots: list[Box] = []  # the latest crop at each place a mark was, oldest first
        self.kept: list[Box] = []  # places known before streaming, remembered throughout

    def next_frame(self, frame: np.ndarray, masked: np.ndarray, boxes: list[Box]) -> None:
        """Start the next frame (in order): note whether the camera moved since the last one, and if
        it did, move each place's remembered picture with it.

        `masked` marks the pixels hidden by marks (left out of the comparison), `boxes` this frame's
        crops. Nothing is done before the first mark: until then there is nothing to restore.
        """
        self.frame += 1
        for box in boxes:
            if not any(iou(k, box) >= SAME_SPOT for k in self.kept):
                replaced = [s for s in self.spots if iou(s, box) >= SAME_SPOT]
                if replaced and replaced[-1] in self._tracks:
                    self._tracks[box] = self._tracks.pop(replaced[-1])
                self.spots = [s for s in self.spots if iou(s, box) < SAME_SPOT][-(MAX_SPOTS - 1):] + [box]
        self._tracks = {b: t for b, t in self._tracks.items() if b in self.kept or b in self.spots}
        if not self.spots and not self.kept:
            return
        size = (max(1, round(self.width * self.scale)), max(1, round(self.height * self.scale)))
        small = cv2.cvtColor(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY).astype(np.int16)
        small_mask = cv2.resize(masked.astype(np.uint8), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if self._previous is not None:
            visible = ~small_mask
            change = np.median(np.abs(small - self._previous)[visible]) if visible.any() else 255
            if change > STILL_LEVEL or self._drifted(small):
                self.still_since = self.frame
                self._anchor = None
                self._follow(frame, grey, masked)
        self._previous = small
        self._grey, self._hidden = grey, masked.copy()
        if self._anchor is None:
            self._anchor = small.astype(np.float32)

    def _drifted(self, small: np.ndarray) -> bool:
        """Whether the picture has shifted since the camera last stood still: a slow pan over flat colour
        changes few pixels from one frame to the next (the median stays low) but moves all of them."""
        if self._anchor is None:
            return False
        if self._window is None:
            self._window = cv2.createHanningWindow((small.shape[1], small.shape[0]), cv2.CV_32F)
        (dx, dy), response = cv2.phaseCorrelate(self._anchor, small.astype(np.float32), self._window)
        return response >= LOCKED and float(np.hypot(dx, dy)) / self.scale > DRIFT

    def _follow(self, frame: np.ndarray, grey: np.ndarray, masked: np.ndarray) -> None:
        """The camera moved: move each place's remembered picture by the motion read around it (local,
        so a zoom or a turn is followed too), restamped as current; a place whose motion cannot be read
        or whose moved picture disagrees with the frame around the mark is forgotten."""
        if self.values is None or self._grey is None or self._hidden is None:
            return
        moved = []
        for place in dict.fromkeys(self.kept + self.spots):
            step = self._step(place, grey, masked)
            x1, y1, x2, y2 = place
            if step is None:
                self.seen[y1:y2, x1:x2] = -1
                continue
            moved.append((place, step, self.values[y1:y2, x1:x2].copy(), self.seen[y1:y2, x1:x2].copy()))
        for (x1, y1, x2, y2), (sx, sy), values, seen in moved:
            h, w = seen.shape
            shifted = np.full_like(seen, -1)
            src = (max(0, -sx), max(0, -sy), min(w, w - sx), min(h, h - sy))
            if src[0] < src[2] and src[1] < src[3]:
                dst = (src[0] + sx, src[1] + sy)
                region = (slice(dst[1], dst[1] + src[3] - src[1]), slice(dst[0], dst[0] + src[2] - src[0]))
                shifted[region] = seen[src[1] : src[3], src[0] : src[2]]
                self.values[y1:y2, x1:x2][region] = values[src[1] : src[3], src[0] : src[2]]
            self.seen[y1:y2, x1:x2] = np.where(shifted >= 0, self.frame, -1)
        for place, _, _, _ in moved:
            if not self._agrees(place, frame, masked):
                x1, y1, x2, y2 = place
                self.seen[y1:y2, x1:x2] = -1

    def _agrees(self, place: Box, frame: np.ndarray, masked: np.ndarray) -> bool:
        """Whether the remembered picture around the mark, moved, is the frame's (median difference)."""
        assert self.values is not None
        x1, y1, x2, y2 = place
        ring = (~masked[y1:y2, x1:x2]) & (self.seen[y1:y2, x1:x2] >= 0)
        if ring.sum() < MIN_RING:
            return False
        diff = np.abs(self.values[y1:y2, x1:x2].astype(np.int16) - frame[y1:y2, x1:x2]).mean(axis=2)
        return float(np.median(diff[ring])) <= AGREE

    def _step(self, place: Box, grey: np.ndarray, masked: np.ndarray) -> tuple[int, int] | None:
        """The whole pixels the picture at `place` moved by since the last frame, or None when the
        motion there cannot be read (a cut, flat colour, something moving in front)."""
        x1, y1, x2, y2 = place
        band = max(MIN_BAND, round(BAND * min(x2 - x1, y2 - y1)))
        region = (max(0, x1 - band), max(0, y1 - band), min(self.width, x2 + band), min(self.height, y2 + band))
        rx1, ry1, rx2, ry2 = region
        assert self._grey is not None and self._hidden is not None
        hidden = masked[ry1:ry2, rx1:rx2] | self._hidden[ry1:ry2, rx1:rx2]
        track = self._tracks.get(place)
        if hidden.mean() > MOSTLY_HIDDEN:
            self._tracks.pop(place, None)
            return None
        window = _window(hidden)
        current, previous = _centred(grey[ry1:ry2, rx1:rx2], hidden), _centred(self._grey[ry1:ry2, rx1:rx2], hidden)
        read = None
        visible = (~hidden).astype(np.uint8)
        if track is not None and track.region == region and track.hidden.shape == hidden.shape and (track.hidden == hidden).all():
            shift = _shift(track.anchor, current, window, visible)
            if shift is not None:
                read = (*shift, track.anchor_total, np.hypot(*shift) > REANCHOR * band)
        if read is None:
            shift = _shift(previous, current, window, visible)
            if shift is not None:
                read = (*shift, track.total if track is not None else (0.0, 0.0), True)
        if read is None:
            self._tracks.pop(place, None)
            return None
        dx, dy, base, fresh = read
        total = (base[0] + dx, base[1] + dy)
        applied = track.applied if track is not None else (0, 0)
        step = (round(total[0]) - applied[0], round(total[1]) - applied[1])
        self._tracks[place] = _Track(region, hidden, current if fresh or track is None else track.anchor,
                                     total if fresh or track is None else track.anchor_total,
                                     total, (applied[0] + step[0], applied[1] + step[1]))
        return step

    def remember(self, frame: np.ndarray, masked: np.ndarray) -> None:
        """Keep this frame's visible pixels at the marks' places (call after `next_frame` and any `recall`)."""
        if not self.spots and not self.kept:
            return
        if self.values is None:
            self.values = np.zeros_like(frame)
        for x1, y1, x2, y2 in self.kept + self.spots:
            visible = (~masked[y1:y2, x1:x2]).view(np.uint8)
            cv2.copyTo(frame[y1:y2, x1:x2], visible, self.values[y1:y2, x1:x2])
            cv2.copyTo(np.full((y2 - y1, x2 - x1), self.frame, np.int32), visible, self.seen[y1:y2, x1:x2])

    def keep(self, places: list[Box]) -> None:
        """Remember the picture at these places from now on, whatever the marks do."""
        self.kept = list(places)

    def recall(self, box: Box, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(remembered picture in `box`, where it is valid within `mask`), or None when nothing is."""
        if self.values is None:
            return None
        x1, y1, x2, y2 = box
        valid = (mask > 0) & (self.seen[y1:y2, x1:x2] >= self.still_since) & (self.seen[y1:y2, x1:x2] >= 0)
        if not valid.any():
            return None
        return self.values[y1:y2, x1:x2], valid


def _shift(reference: np.ndarray, current: np.ndarray, window: np.ndarray, visible: np.ndarray) -> tuple[float, float] | None:
    """How far the picture moved from `reference` to `current` (sub-pixel): phase correlation's reading,
    refined by ECC over the visible pixels (phase correlation alone is biased towards no motion by its
    window, which stays put while the picture moves); None when ECC cannot fit it closely."""
    (dx, dy), response = cv2.phaseCorrelate(reference, current, window)
    if response < TRACKED:
        return None
    warp = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    try:
        fit, warp = cv2.findTransformECC(reference, current, warp, cv2.MOTION_TRANSLATION,
                                         (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 1e-3), visible, 3)
    except cv2.error:
        return None
    return (float(warp[0, 2]), float(warp[1, 2])) if fit >= FIT else None


def _window(hidden: np.ndarray) -> np.ndarray:
    """Phase correlation's Hanning window, faded to zero over the hidden pixels: a mark that stays on
    the screen (or the edge of a hole cut for it) would pull the motion read there to zero."""
    h, w = hidden.shape
    visible = cv2.GaussianBlur((~hidden).astype(np.float32), (0, 0), FADE)
    return cv2.createHanningWindow((w, h), cv2.CV_32F) * visible * (~hidden)


def _centred(grey: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """`grey` as float, less its visible mean (so that the fade to zero makes no edge)."""
    out = grey.astype(np.float32)
    return out - float(out[~hidden].mean())
