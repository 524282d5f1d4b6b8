"""The general detection stack: appearance proposes, time decides.

Pass 1 (`analyse`) reads the whole video once at a low rate and size. Every sampled frame goes
through the proposal sources (the text detector, the trained and any configured YOLO, the static
detector's edge persistence); their boxes gather into *spots*. A spot is kept as a mark only on
evidence from many seconds of the video:

* it recurs: the spot (with the spots that show the same picture elsewhere, for marks that jump
  between a few places) is proposed in a large share of the video, for several seconds in all;
* its pixels stay the same: the edge picture inside matches the spot's median edge picture (or, for a
  semi-opaque mark whose edges the busy scenery showing through drowns, its colours change by a
  fraction of what the moving scenery's do, or its signed gradients agree from one sighting to the
  next while the scene's cancel out);
* and either the picture around it changes while it stays (moving camera, cuts), or, where the
  scene stands still and time cannot tell, a trained watermark detector says it is a mark: surely
  (a high score), or less surely where the place's pixels lack the camera's noise as an overlay's do.

Scene text, faces and objects move with the scene or leave it; subtitles change; letterbox bars
are thin lines across the frame; none of them passes. Pass 2 (`detect`) then hands each frame the
marks it shows, checked per frame against the mark's edge picture, so a jumping mark is followed
to the frame.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from loguru import logger

from app.detection.static import fill_holes, without_specks
from app.detection.types import Box, Detection, Detector, intersection, iou
from app.errors import InputError
from app.media.probe import VideoInfo
from app.media.reader import read_at, read_samples
from app.stages import Producer, StageTimer

ANALYSIS_LONG_SIDE = 960
MIN_SAMPLES = 12
SPOT_IOU = 0.4  # a proposal joins a spot when it overlaps it this much
STRAY_HITS, STRAY_SAMPLES = 3, 60  # a place proposed fewer times than this, not for this many samples, is dropped
KEEP_CROPS = 48  # edge pictures kept per spot (reservoir), bounding memory on long videos
KEEP_ABSENT = 16  # ... and of the place while nothing is proposed there
KEEP_LOOKS = 32  # sampled frames kept (reservoir, in colour), searched for a decided mark's other places
FOUND = 0.38  # match of a mark's edge picture for a sample to show it at a place no detector proposed
STILL_THERE = 0.85  # ... and at its own place for a sample to show it there still, whatever the detectors said
CARRIED, CARRIED_SHARE = 4.0, 0.35  # px (analysis), or share of the way: a place this near where the camera's
# drift took the mark's own place is the scene's (samples a second apart: the drift is read roughly)
LOCKED_ON = 0.1  # phase correlation response for a shift between two samples to be read at all
NEAR = 3  # px (edge-picture scale): two samples' best matches this close are one place
PLAIN, LOOKALIKE = 0.6, 0.25  # a place shows the mark plainly: its median match, and the most while it is elsewhere
NESTED = 0.5  # share of the smaller box two proposals' boxes share to be boxes of one place
CROP_SIDE = 96  # kept edge pictures are scaled to at most this many pixels on their long side
MIN_COVERAGE = 0.4  # share of the sampled frames a mark (all its spots) must be proposed in
MIN_SECONDS = 4.0  # ... and for this long in all (or half the video when shorter)
CONSISTENT = 0.5  # median correlation between two sightings' edge pictures
JUMP_OVERLAP = 0.2  # places of a jumping mark share at most this share of their sightings
SHIFT = 3  # px (edge-picture scale) searched when aligning two places of one mark
MAX_PAIRS = 300  # sighting pairs compared per spot
SAME_MARK = 0.6  # correlation of two spots' median edges for them to be one (jumping) mark
APPEARANCE_SHARE = 0.5  # share of sightings where a trained detector fired, for still scenes
PAD = 0.2  # of the box's short side, added around a proposal (outlines, shadows, anti-aliasing)
CONTEXT_SIZE = (32, 32)
REACH = 2  # heights of the proposal searched around it for the rest of the mark
WIDE_SIDE = 128  # px: long side of the stored pictures of that reach
STEADY = 0.3  # a mark's edge varies across sightings by less than this share of its strength (median deviation)
EDGE = 24.0  # gradient magnitude that counts as an edge
SPECK = 4  # px (of a stored edge picture): a steady edge smaller than this is noise, not a mark's
MAX_GROWTH = 3.0  # a grown box larger than this many proposals is the scene, not the mark
STILL_BACKGROUND = 0.1  # persistent share of the reach beyond which the picture is too still to grow by
QUIET_LOOKS = 8  # kept samples needed to tell a still scene's mark by its missing camera noise
NOISE_FLOOR = 0.5  # grey levels: a scene whose pixels vary less than this across samples is too clean to tell
QUIET = 0.3  # share of the scene's variation below which a pixel is an overlay's
STEADY_STEPS = 0.75  # share of the smallest sample-to-sample changes a pixel's noise is read from
LEVEL_BIN, LEVEL_PIXELS = 32, 64  # grey levels per brightness bin the noise is read in, and pixels it needs
CLIPPED, CRUSHED = 250, 5  # levels in every channel of blown-out white and crushed black, quiet whatever is there
QUIET_SPECK, QUIET_PART = 6, 0.1  # px, and share of the proposal: a quiet patch smaller than both is chance
OVERLAY_SHARE, OVERLAY_RATIO = 0.05, 1.5  # quiet (or clipped) share of a place, and how many times the scene's, of an overlay
MOVING_MARGIN = 0.2  # the inside must agree with itself across sightings this much more than the surroundings
SCENE_MOVES = 10.0  # grey levels: the surroundings' typical change across sightings (median absolute deviation)
STEADY_PIXELS = 0.35  # ... of which the place's pixels change at most this share, when its edges disagree,
STEADY_SHARE = 0.85  # ... in this share of its sightings
AGREES = 0.45  # correlation of a sighting's signed gradients with the other sightings' median, inside a place,
SCENE_AGREES = 0.2  # ... and at most this in the typical sighting around it, for its edges to stay as the scene moves
AGREE_SIDE, AGREE_LOOKS = 160, 16  # px (long side of the place's surroundings) and sightings that test reads at most
SHOWN = 0.35  # per-frame correlation with the mark's edges for the frame to show the mark
SHOWN_FAINTLY = 0.2  # ... where the last sample saw the mark there
SCENE_EDGES = 90  # percentile of a frame's edges above which they are clipped before that correlation
BRIDGE = 2  # samples: a gap this long between two sightings of a mark at one place is taken as the detectors' miss
THIN = 12.0  # aspect ratio beyond which a box is a line (letterbox edge), not a mark
SAME_SAMPLES = 0.8  # share of sightings two touching marks share to be parts of one
EXTENT_MARGIN = 2  # px around the part of a proposal that reaches past its place's picture
SPAN = 0.7  # a box spanning this share of the frame's width or height is not a mark
SEED_TRIES = 3  # samples tried for a place's picture before a split job's part (the latest first)


def edges(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The edge picture of an RGB crop at `size` (w, h): |d/dx| and |d/dy| stacked, float32.

    Two orientation channels (sign dropped: an opaque mark's outline flips sign with the background)
    tell different letters apart where a plain magnitude would match any line of text with another.
    Each is the strongest colour channel's: a red logo on a brown wall, or a coloured logo at half
    opacity, has edges a grey picture hardly shows.
    """
    return _resized(gradients(picture), size)


def gradients(picture: np.ndarray) -> np.ndarray:
    """`edges` at the picture's own size, before the resize: what a search at several sizes shares."""
    gx, gy = signed_gradients(picture)
    return np.stack([_strongest(gx), _strongest(gy)])


def signed_gradients(picture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The x and y gradients of an RGB picture's channels, (h, w, 3) float32 each, with their signs."""
    blurred = cv2.GaussianBlur(picture.astype(np.float32), (3, 3), 0)
    return cv2.Sobel(blurred, cv2.CV_32F, 1, 0), cv2.Sobel(blurred, cv2.CV_32F, 0, 1)


def _strongest(gradient: np.ndarray) -> np.ndarray:
    """Per pixel, the largest magnitude over the colour channels of an (h, w, 3) gradient: the same as
    `np.abs(g).max(axis=2)`, whose reduction over a 3-long last axis is 13x slower at 960x540."""
    magnitude = np.abs(gradient)
    return np.maximum(np.maximum(magnitude[:, :, 0], magnitude[:, :, 1]), magnitude[:, :, 2])


def _resized(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A stacked edge picture (channels, h, w) at another (w, h)."""
    return np.stack([cv2.resize(channel, size, interpolation=cv2.INTER_AREA) for channel in picture])


def _matched(template: np.ndarray, pictures: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """`template`'s match map over each picture, two at a time (OpenCV releases the GIL)."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="search") as pool:
        return dict(zip(pictures, pool.map(lambda p: cv2.matchTemplate(p, template, cv2.TM_CCOEFF_NORMED),
                                           pictures.values()), strict=True))


def _grown(box: Box, by: int, width: int, height: int) -> Box:
    """`box` grown by `by` px on every side, clipped to a frame of `width` x `height`."""
    x1, y1, x2, y2 = box
    return max(0, x1 - by), max(0, y1 - by), min(width, x2 + by), min(height, y2 + by)


def _area(box: Box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def _within(box: Box, region: Box, size: tuple[int, int]) -> Box:
    """`box` (analysis px) in the coordinates of a picture of `region` stored at `size` (w, h)."""
    fx, fy = size[0] / (region[2] - region[0]), size[1] / (region[3] - region[1])
    return (round((box[0] - region[0]) * fx), round((box[1] - region[1]) * fy),
            round((box[2] - region[0]) * fx), round((box[3] - region[1]) * fy))


def _outside(box: Box, region: Box, size: tuple[int, int]) -> Box:
    """The inverse of `_within`: a box in a stored picture of `region` back in analysis px."""
    fx, fy = size[0] / (region[2] - region[0]), size[1] / (region[3] - region[1])
    return (round(region[0] + box[0] / fx), round(region[1] + box[1] / fy),
            round(region[0] + box[2] / fx), round(region[1] + box[3] / fy))


def _shifted(box: Box, dx: int, dy: int) -> Box:
    return box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy


def _touching(binary: np.ndarray, inner: Box, gap: int) -> Box:
    """`inner` grown to the pixels of `binary` (uint8) joined to it across gaps of up to `gap` px."""
    _, labels = cv2.connectedComponents(cv2.dilate(binary, np.ones((gap, gap), np.uint8)))
    joined = np.unique(labels[inner[1] : inner[3], inner[0] : inner[2]])
    ys, xs = np.nonzero(np.isin(labels, joined[joined > 0]) & (binary > 0))
    if not len(xs):
        return inner
    return (min(inner[0], int(xs.min())), min(inner[1], int(ys.min())),
            max(inner[2], int(xs.max()) + 1), max(inner[3], int(ys.max()) + 1))


def _blown(level: np.ndarray) -> np.ndarray:
    """Per pixel of an (h, w, 3) picture, whether it is blown-out white or crushed black in every channel:
    no noise and no change there, whatever it shows."""
    return (level >= CLIPPED).all(axis=2) | (level <= CRUSHED).all(axis=2)


def _spills(box: Box, region: Box, shape: tuple[int, ...], width: int, height: int) -> bool:
    """Whether `box` (in a picture of `region`, of `shape` (h, w, ...)) reaches a side of the picture that
    is not the frame's (`width` x `height`): what it outlines goes on beyond the region."""
    h, w = shape[:2]
    return (box[0] == 0 < region[0]) or (box[1] == 0 < region[1]) or (box[2] == w and region[2] < width) or \
        (box[3] == h and region[3] < height)


def _fitted(box: Box, side: int) -> tuple[int, int]:
    """The (w, h) a picture of `box` is stored at: its long side at most `side` px, each side 4 px at least."""
    x1, y1, x2, y2 = box
    scale = min(1.0, side / max(x2 - x1, y2 - y1))
    return max(4, round((x2 - x1) * scale)), max(4, round((y2 - y1) * scale))


def _around(shape: tuple[int, ...], box: Box) -> np.ndarray:
    """A bool (h, w) array of `shape`'s first two sides, True outside `box`: a place's surroundings."""
    outside = np.ones(shape[:2], bool)
    outside[box[1] : box[3], box[0] : box[2]] = False
    return outside


def _changes(crops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Over (n, h, w, 3) float32 pictures of one place at its sightings: the median picture, each
    sighting's change from it per pixel (the channels' mean), and the median change per pixel."""
    level = np.median(crops, axis=0)
    deviation = np.abs(crops - level).mean(axis=3)
    return level, deviation, np.median(deviation, axis=0)


def _hulls(binary: np.ndarray) -> np.ndarray:
    """`binary` (uint8 0/1) with each 8-connected part replaced by its convex hull. A semi-transparent
    mark's outline shows in the median of the sightings only where its colour differs from the scene's
    typical colour, so its body is not always enclosed; its inner edges (a door in a house) span it."""
    count, labels = cv2.connectedComponents(binary, connectivity=8)
    out = np.zeros_like(binary)
    for label in range(1, count):
        cv2.fillConvexPoly(out, cv2.convexHull(cv2.findNonZero((labels == label).astype(np.uint8))), 1)
    return out


def _agreement(gradients: np.ndarray) -> np.ndarray:
    """Per sighting of (n, ...) signed gradients, their correlation with the median of the other sightings'
    (the median of all would share the sighting's own scene). The medians come from one sort per pixel:
    leaving out the value at rank r moves the remaining values from r on down by one place."""
    n = len(gradients)
    values = np.ascontiguousarray(gradients.reshape(n, -1).T)  # (pixels, n)
    order = np.argsort(values, axis=1)
    ranked = np.take_along_axis(values, order, axis=1)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(n), order.shape), axis=1)

    def remaining(position: int) -> np.ndarray:  # per pixel and left-out sighting: the value at `position`
        return np.take_along_axis(ranked, position + (position >= rank), axis=1)

    medians = (remaining((n - 2) // 2) + remaining((n - 1) // 2)) / 2
    return np.array([correlation(values[:, k], medians[:, k]) for k in range(n)])


def _bridged(hits: set[int]) -> set[int]:
    """The samples in gaps of at most `BRIDGE` samples between two of `hits`: a mark that stays at one place
    and was seen on both sides of such a gap is taken to be there in it. The detectors miss a small or faint
    mark now and then, and the frame-by-frame check then has only the mark's edges to go by, which a new
    shot's strong edges can drown (`generated_01_moving` in `python -m bench.detection`, a 27x7 px handle at
    0.7 opacity, came and went for over a second twice)."""
    ordered = sorted(hits)
    return {s for a, b in zip(ordered, ordered[1:], strict=False) if b - a <= BRIDGE + 1 for s in range(a + 1, b)}


def _jumps(spots: list[Spot]) -> int:
    """How many places a family's picture takes turns at: places seen at (mostly) different times.
    Two places seen at the same time are two things that look alike (windows, signs), not a jump."""
    turns = 1
    for k, spot in enumerate(spots[1:], start=1):
        mine = set(spot.hits)
        if all(len(mine & set(other.hits)) <= JUMP_OVERLAP * min(len(mine), len(other.hits)) for other in spots[:k]):
            turns += 1
    return turns if turns == len(spots) else 1


def _trained_samples(spots: list[Spot]) -> tuple[int, int]:
    """Samples at which a trained detector proposed any of `spots`, and at which one was sure of it: counted
    per sample, as a family's hits are, so places seen at the same samples (lookalikes) do not add up."""
    return len(set().union(*(s.trained_at for s in spots))), len(set().union(*(s.sure_at for s in spots)))


def _merged(marks: list[Mark], width: int, height: int) -> list[Mark]:
    """Marks that touch and are seen at the same samples are parts of one (the proposals split a
    logo into its top and bottom): one mark over their union, masks united, checked per frame by its
    largest part's picture."""
    out: list[Mark] = []
    for mark in sorted(marks, key=lambda m: -(m.box[2] - m.box[0]) * (m.box[3] - m.box[1])):
        for k, whole in enumerate(out):
            together = len(mark.hits & whole.hits) >= SAME_SAMPLES * len(mark.hits | whole.hits)
            if together and _touch(mark.box, whole.box):
                out[k] = _united(whole, mark, width, height)
                break
        else:
            out.append(mark)
    return out


def _touch(a: Box, b: Box) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _united(whole: Mark, part: Mark, width: int, height: int) -> Mark:
    """The union of two parts, its box padded as one mark's (the share PAD of its own short side, of
    which each part's box already has that of its smaller size); the mask is the parts' own."""
    x1, y1 = min(whole.box[0], part.box[0]), min(whole.box[1], part.box[1])
    x2, y2 = max(whole.box[2], part.box[2]), max(whole.box[3], part.box[3])
    short = lambda b: min(b[2] - b[0], b[3] - b[1])  # noqa: E731
    extra = max(0, round(PAD * (short((x1, y1, x2, y2)) - max(short(whole.box), short(part.box))) / (1 + 2 * PAD)))
    box = _grown((x1, y1, x2, y2), extra, width, height)
    mask = np.zeros((box[3] - box[1], box[2] - box[0]), np.uint8)
    for m in (whole, part):
        mask[m.box[1] - box[1] : m.box[3] - box[1], m.box[0] - box[0] : m.box[2] - box[0]] |= m.mask.astype(np.uint8)
    return replace(whole, box=box, mask=fill_holes(mask) > 0, hits=whole.hits | part.hits)


def _shape(magnitude: np.ndarray) -> np.ndarray:
    """A mark's pixels from its edge strength: strong edges, closed, with the shapes they enclose."""
    strong = (magnitude > max(20.0, 0.35 * float(magnitude.max()))).astype(np.uint8)
    return fill_holes(without_specks(cv2.morphologyEx(strong, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)), SPECK)) > 0


def _hwc(picture: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(picture.transpose(1, 2, 0))


def best_shift(picture: np.ndarray, reference: np.ndarray) -> tuple[int, int, float]:
    """The shift (up to `SHIFT` px each way) that best aligns `picture` to `reference` (same shape),
    and the match there.

    Proposal boxes sit a few pixels differently around the same mark at different places; thin
    strokes stop correlating at a shift of one or two pixels, so places are compared aligned.
    """
    padded = cv2.copyMakeBorder(_hwc(picture), SHIFT, SHIFT, SHIFT, SHIFT, cv2.BORDER_REPLICATE)
    scores = cv2.matchTemplate(padded, _hwc(reference), cv2.TM_CCOEFF_NORMED)
    _, best, _, (dx, dy) = cv2.minMaxLoc(scores)
    return dx, dy, float(best)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two same-shaped arrays (0 when either is flat)."""
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / norm) if norm > 1e-6 else 0.0


def showing(picture: np.ndarray, template: np.ndarray) -> float:
    """How much an edge picture shows a mark's edge picture: their correlation once the picture's edges
    are clipped at its SCENE_EDGES percentile. A strong scene edge crossing a semi-transparent mark (a
    wave's rim across a blue logo, after a cut) otherwise outweighs the mark's whole pattern in a plain
    correlation (`generated_10_moving` in `python -m bench.detection` lost the shot after its cut)."""
    return correlation(np.minimum(picture, np.percentile(picture, SCENE_EDGES)), template)


def _shown(picture: np.ndarray, mark: Mark, threshold: float) -> bool:
    """Whether an edge picture of a mark's place shows the mark (`showing` at `threshold`), better than
    the place's picture without the mark when that is known."""
    shown = showing(picture, mark.template)
    return shown >= threshold and (mark.background is None or shown > showing(picture, mark.background))


@dataclass
class Spot:
    """Proposals at one place: which samples proposed it, by which sources, and a reservoir of
    what the place looked like (edge picture inside, surroundings) at those samples."""

    box: Box
    crop_size: tuple[int, int]
    hits: list[int] = field(default_factory=list)
    trained_at: set[int] = field(default_factory=set)  # samples where a trained detector proposed it
    sure_at: set[int] = field(default_factory=set)  # ... at its sure score
    sides: list[list[int]] = field(default_factory=list)  # per side, the two farthest proposals' values
    crops: list[np.ndarray] = field(default_factory=list)
    contexts: list[np.ndarray] = field(default_factory=list)
    wide: list[np.ndarray] = field(default_factory=list)
    absent: list[np.ndarray] = field(default_factory=list)
    wide_size: tuple[int, int] = (0, 0)
    seen: int = 0

    def widen(self, box: Box) -> None:
        """Note how far a proposal that joined this place reaches on each side (the two farthest are kept)."""
        if not self.sides:
            self.sides = [[v] for v in box]
            return
        for k, value in enumerate(box):
            self.sides[k] = sorted(self.sides[k] + [value], reverse=k >= 2)[:2]

    @property
    def extent(self) -> Box:
        """How far the proposals that joined this place reach, as far as two of them agree: one detector
        may box only part of a mark (a word of a handle), but one stray box must not widen it."""
        return tuple(side[-1] for side in self.sides) if self.sides else self.box

    def reach(self, width: int, height: int) -> Box:
        """Where the rest of a mark may be: the padded box grown by twice its height each way (a logo
        beside or above the words that were proposed)."""
        padded = self.regions(width, height)[0]
        return _grown(padded, REACH * (padded[3] - padded[1]), width, height)

    def regions(self, width: int, height: int) -> tuple[Box, Box]:
        """The spot's box grown to take in a mark's outline and shadow, and the surroundings (the box
        grown by half its size), both clipped to the frame."""
        x1, y1, x2, y2 = self.box
        pad = max(2, round(PAD * min(x2 - x1, y2 - y1)))
        gx, gy = max(8, (x2 - x1) // 2), max(8, (y2 - y1) // 2)
        return (_grown(self.box, pad, width, height),
                (max(0, x1 - gx), max(0, y1 - gy), min(width, x2 + gx), min(height, y2 + gy)))


@dataclass(frozen=True)
class Growth:
    """Where a mark continues beyond its proposal: `picture` (any size) covers `region`, and `box` is
    the grown box, both in analysis px, for the place whose padded box starts at `anchor` (a jumping
    mark's other places get it shifted)."""

    region: Box
    picture: np.ndarray
    box: Box
    anchor: tuple[int, int]


@dataclass
class Mark:
    """A decided mark: source-pixel box and mask, analysis box, median edge picture, and its sightings."""

    box: Box
    mask: np.ndarray
    analysis_box: Box
    template: np.ndarray
    hits: set[int]
    evidence: str
    background: np.ndarray | None = None  # the place's edge picture without the mark, when seen


class EvidenceDetector(Detector):
    """Two passes: `analyse(info)` decides the marks of the whole video; `detect(frames)` streams."""

    name = "auto"
    tracked = True  # detections are decided over the whole video: the tracker must not extend them
    only_places = True

    def __init__(self, sources: dict[str, Callable[[int, int], Detector]], trained: dict[str, float], info: VideoInfo,
                 sample_fps: float, max_bbox_percent: float) -> None:
        """`trained` names the sources that are trained watermark detectors, each with the score at which
        its word alone decides a still scene whose pixels cannot tell."""
        self.source_factories, self.trained = sources, trained
        self.width, self.height = info.width, info.height
        scale = min(1.0, ANALYSIS_LONG_SIDE / max(info.width, info.height))
        self.aw, self.ah = max(2, round(info.width * scale / 2) * 2), max(2, round(info.height * scale / 2) * 2)
        # Short clips are sampled more densely: evidence needs a dozen looks, whatever the length.
        self.every = max(1, min(round(info.fps / sample_fps), info.frames // MIN_SAMPLES))
        self.max_area = max_bbox_percent / 100.0 * self.aw * self.ah
        self.spots: list[Spot] = []
        self.marks: list[Mark] = []
        self.samples = 0
        self.decided = False
        self.looks: list[tuple[int, np.ndarray]] = []
        self.frames_seen = 0
        super().__init__()
        self.source_fallbacks: list[str] = []
        self.multiscale = False
        self.rng = np.random.default_rng(0)

    @property
    def fallbacks(self) -> list[str]:
        return self.source_fallbacks

    @property
    def places(self) -> list[Detection]:
        return [Detection(box=m.box, source=self.name, mask=m.mask) for m in self.marks]

    @property
    def finds_nothing(self) -> bool:
        return self.decided and not self.marks

    # Pass 1 ---------------------------------------------------------------------------------------

    def analyse(self, info: VideoInfo, batch: int = 8) -> None:
        """Read the video at the sample rate, gather spots, decide the marks. The sources look at each
        batch side by side, one thread each (the networks release the GIL; see `app.detection.text`),
        while the decoder goes on to the next batch's samples."""
        sources = {name: make(self.aw, self.ah) for name, make in self.source_factories.items()}
        pending: list[tuple[int, np.ndarray]] = []
        samples = Producer(read_samples(info, self.every, self.aw, self.ah), batch, StageTimer(), "analysis reader")
        try:
            with ThreadPoolExecutor(max_workers=len(sources), thread_name_prefix="propose") as pool:
                for index, frame in samples:
                    pending.append((index, frame))
                    if len(pending) >= batch:
                        self._propose(pool, sources, pending)
                        pending = []
                self._propose(pool, sources, pending)
        finally:
            samples.stop()
        for source in sources.values():
            self.notes += [n for n in source.notes if "fixed camera" not in n]
            self.source_fallbacks += source.fallbacks
            self.multiscale |= source.multiscale
        self._decide(info.duration_s)
        self.decided = True

    def save_analysis(self, path: Path) -> bool:
        """The decided marks (boxes, masks, edge pictures, the samples they were seen at) as an npz: arrays
        and a JSON header, loaded without pickle."""
        arrays: dict[str, np.ndarray] = {}
        marks = []
        for i, mark in enumerate(self.marks):
            arrays[f"mask{i}"], arrays[f"template{i}"] = mark.mask, mark.template
            if mark.background is not None:
                arrays[f"background{i}"] = mark.background
            marks.append({"box": list(mark.box), "analysis_box": list(mark.analysis_box), "hits": sorted(mark.hits),
                          "evidence": mark.evidence, "background": mark.background is not None})
        header = {"size": [self.width, self.height], "every": self.every, "samples": self.samples, "marks": marks,
                  "notes": self.notes, "fallbacks": self.source_fallbacks, "multiscale": self.multiscale}
        with path.open("wb") as out:
            np.savez_compressed(out, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
        return True

    def load_analysis(self, path: Path, first_frame: int) -> None:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(bytes(data["header"]).decode())
            if header["size"] != [self.width, self.height]:
                raise InputError(f"the analysis is for {header['size']}, this part is {self.width}x{self.height}")
            self.marks = [Mark(tuple(m["box"]), data[f"mask{i}"], tuple(m["analysis_box"]), data[f"template{i}"],
                               set(m["hits"]), m["evidence"], data[f"background{i}"] if m["background"] else None)
                          for i, m in enumerate(header["marks"])]
        self.every, self.samples = int(header["every"]), int(header["samples"])
        self.notes, self.source_fallbacks = list(header["notes"]), list(header["fallbacks"])
        self.multiscale = bool(header["multiscale"])
        self.frames_seen = first_frame
        self.decided = True

    def views_before(self, info: VideoInfo, starts: list[int], pad: int) -> dict[int, list[tuple[Box, np.ndarray]]]:
        """For a part of the video starting at each of `starts` (a split job's child, which never sees the
        frames before its lead-in): per mark, the picture at its place, the box grown by `pad`, from the
        latest sample before the start at which the mark was seen elsewhere (a jumping mark: proof that
        it was away, which a detector's miss at the place is not) and the frame itself shows no mark's
        picture there; the `SEED_TRIES` latest such samples are tried. The child's restoration remembers
        it as the single run would have (on a still camera, the spot a mark jumps to was seen free)."""
        wanted: dict[int, list[tuple[int, int, Box, list[Mark]]]] = {}
        for start in starts:
            for k, mark in enumerate(self.marks):
                box = _grown(mark.box, pad, self.width, self.height)
                over = [m for m in self.marks if _touch(m.box, box)]
                taken = set().union(*(m.hits for m in over))
                away = set().union(*(m.hits for m in self.marks if not _touch(m.box, box))) - taken
                before = [s for s in sorted(away, reverse=True) if s * self.every < start][:SEED_TRIES]
                for s in before:
                    wanted.setdefault(s * self.every, []).append((start, k, box, over))
        found: dict[tuple[int, int], tuple[Box, np.ndarray]] = {}  # (start, mark): the latest that passed
        try:
            for index, frame in read_at(info, sorted(wanted)):
                for start, k, (x1, y1, x2, y2), over in wanted[index]:
                    if all(self._match(frame, m) < SHOWN_FAINTLY for m in over):
                        found[(start, k)] = ((x1, y1, x2, y2), np.ascontiguousarray(frame[y1:y2, x1:x2]))
        except InputError as exc:  # none of them could be decoded: the parts restore with what they see
            logger.warning("Split: no picture of the marks' places before the parts could be read ({})", exc)
        views: dict[int, list[tuple[Box, np.ndarray]]] = {start: [] for start in starts}
        for (start, _), view in sorted(found.items(), key=lambda item: item[0]):
            views[start].append(view)
        return views

    def _propose(self, pool: ThreadPoolExecutor, sources: dict[str, Detector], batch: list[tuple[int, np.ndarray]]) -> None:
        if not batch:
            return
        frames = [f for _, f in batch]
        running = {name: pool.submit(source.detect, frames) for name, source in sources.items()}
        found = {name: job.result() for name, job in running.items()}
        for k, frame in enumerate(frames):
            touched: set[int] = set()
            for name, per_frame in found.items():
                for det in per_frame[k]:
                    if self._plausible(det.box):
                        touched.add(self._spot_for(det.box, name, det.score))
            for s in touched:
                self._sighting(self.spots[s], frame)
            for s, spot in enumerate(self.spots):
                if s not in touched and len(spot.hits) >= 2:
                    self._absence(spot, frame)
            self._keep_look(frame)
            self.samples += 1
        self.spots = [s for s in self.spots if len(s.hits) >= STRAY_HITS or self.samples - s.hits[-1] <= STRAY_SAMPLES]

    def _keep_look(self, frame: np.ndarray) -> None:
        """A reservoir of whole sampled frames, bounded in number however long the video."""
        if len(self.looks) < KEEP_LOOKS:
            self.looks.append((self.samples, frame))
        else:
            slot = int(self.rng.integers(0, self.samples + 1))
            if slot < KEEP_LOOKS:
                self.looks[slot] = (self.samples, frame)

    def _plausible(self, box: Box) -> bool:
        w, h = box[2] - box[0], box[3] - box[1]
        if w < 4 or h < 4 or w * h > self.max_area:
            return False
        return max(w / h, h / w) <= THIN and w <= SPAN * self.aw and h <= SPAN * self.ah

    def _spot_for(self, box: Box, source: str, score: float) -> int:
        best = max(range(len(self.spots)), key=lambda s: iou(self.spots[s].box, box), default=None)
        if best is None or iou(self.spots[best].box, box) < SPOT_IOU:
            spot = Spot(box, (0, 0))
            spot.crop_size = _fitted(spot.regions(self.aw, self.ah)[0], CROP_SIDE)
            spot.wide_size = _fitted(spot.reach(self.aw, self.ah), WIDE_SIDE)
            self.spots.append(spot)
            best = len(self.spots) - 1
        spot = self.spots[best]
        spot.widen(box)
        if not spot.hits or spot.hits[-1] != self.samples:
            spot.hits.append(self.samples)
        if source in self.trained:
            spot.trained_at.add(self.samples)
            if score >= self.trained[source]:
                spot.sure_at.add(self.samples)
        return best

    def _sighting(self, spot: Spot, frame: np.ndarray) -> None:
        """Keep this sample's edge pictures (inside, and around with the inside blanked) in the reservoir."""
        (x1, y1, x2, y2), (cx1, cy1, cx2, cy2) = spot.regions(self.aw, self.ah)
        crop = edges(frame[y1:y2, x1:x2], spot.crop_size)
        around = frame[cy1:cy2, cx1:cx2]
        context = edges(around, (around.shape[1], around.shape[0]))
        context[:, max(0, y1 - cy1 - 2) : y2 - cy1 + 2, max(0, x1 - cx1 - 2) : x2 - cx1 + 2] = 0
        context = _resized(context, CONTEXT_SIZE)
        wx1, wy1, wx2, wy2 = spot.reach(self.aw, self.ah)
        wide = edges(frame[wy1:wy2, wx1:wx2], (wx2 - wx1, wy2 - wy1))
        wide = cv2.resize(np.hypot(wide[0], wide[1]), spot.wide_size, interpolation=cv2.INTER_AREA)
        spot.seen += 1
        if len(spot.crops) < KEEP_CROPS:
            spot.crops.append(crop)
            spot.contexts.append(context)
            spot.wide.append(wide)
        else:
            slot = int(self.rng.integers(0, spot.seen))
            if slot < KEEP_CROPS:
                spot.crops[slot], spot.contexts[slot], spot.wide[slot] = crop, context, wide

    def _absence(self, spot: Spot, frame: np.ndarray) -> None:
        """What the place looks like when nothing was proposed there (a jumping mark is elsewhere):
        on a still scene this is the background the per-frame check must tell the mark from."""
        x1, y1, x2, y2 = spot.regions(self.aw, self.ah)[0]
        crop = edges(frame[y1:y2, x1:x2], spot.crop_size)
        if len(spot.absent) < KEEP_ABSENT:
            spot.absent.append(crop)
        else:
            spot.absent[int(self.rng.integers(0, KEEP_ABSENT))] = crop

    # Decision -------------------------------------------------------------------------------------

    def _decide(self, duration_s: float) -> None:
        """Marks are decided per family (one spot, or the spots of a mark that jumps between places):
        all the family's sightings together must agree with each other and show the evidence, and,
        with the places its picture is found at by search, recur over the video."""
        min_hits = max(3, round(min(MIN_SECONDS, 0.5 * duration_s) * self.samples / max(duration_s, 1e-6)))
        looks: dict[int, np.ndarray] = {}  # the kept samples' gradients, made once for every family's search
        seen = [spot for spot in self.spots if len(spot.crops) >= 2]
        templates = [np.median(np.stack(spot.crops), axis=0) for spot in seen]
        for family in self._families(seen, templates):
            hits = set().union(*(seen[k].hits for k in family))
            if len(hits) < STRAY_HITS:
                continue
            members = [seen[k] for k in family]
            consistency = float(np.median([self._consistency(m.crops) for m in members]))
            steady = (self._steady(members[0]) or self._agreeing(members[0])) \
                if consistency < CONSISTENT and len(members) == 1 else None
            if consistency < CONSISTENT and steady is None:
                continue
            around = float(np.median([self._consistency(m.contexts) for m in members]))
            trained, sure = _trained_samples(members)
            overlaid = partial(self._overlaid, members[0])
            if steady is not None:
                evidence, growth = steady
            else:
                evidence = self._evidence(consistency, around, trained, sure, overlaid, len(hits), _jumps(members))
                growth = None if evidence is None else \
                    self._quiet_growth(members[0]) if evidence.startswith("still scene") else self._growth(members)
            marks = [self._mark(seen[k], templates[k], evidence or "", growth) for k in family]
            if evidence is not None:
                for spot, mark in zip(members, marks, strict=True):
                    mark.hits |= self._boxed_otherwise(spot, mark, evidence.startswith("still scene"))
                hits = set().union(*(m.hits for m in marks))
            alone = evidence is not None and len(hits) >= min_hits and len(hits) >= MIN_COVERAGE * self.samples
            others = self._elsewhere(marks, hits, looks, proven=alone)
            if evidence is None and others:  # the search found the places it takes turns at
                evidence = f"the same picture takes turns at {len(marks) + len(others)} places"
                for mark in marks + others:
                    mark.evidence = evidence + mark.evidence
            shown = hits.union(*(m.hits for m in others))
            if evidence is None or len(shown) < min_hits or len(shown) < MIN_COVERAGE * self.samples:
                continue
            for mark in marks + others:
                logger.info("Mark at {} (analysis px): {} of {} samples ({} places), {}", mark.analysis_box,
                            len(mark.hits), self.samples, len(marks) + len(others), mark.evidence)
            if len(marks) + len(others) == 1:
                marks[0].hits |= _bridged(marks[0].hits)
            self.marks += marks + others
        self.marks = _merged(self.marks, self.width, self.height)
        self._say_what_decided()

    def _boxed_otherwise(self, spot: Spot, mark: Mark, still: bool) -> set[int]:
        """The kept samples at which a detector boxed the mark's place differently (another spot sharing
        `NESTED` of the smaller box: a tight box in one shot, one with the outline in the next) and the
        place shows the mark's edge picture plainly (`PLAIN`), better than the place's picture without
        it when that is known (a jumping mark's vacated place): sightings of the mark, which recurrence
        counts. On a still scene, where the place shows its own picture in every sample, only the
        trained detector's boxes count: another source boxing a larger thing around it (a whole sign
        around its logo) is no word that the mark is there. Without them a mark boxed several ways fell
        short of recurrence in each (`generated_08_moving` in `python -m bench.detection`, a handle at
        0.54 opacity, was not found)."""
        near = {i for other in self.spots if other is not spot and intersection(other.box, spot.box) >=
                NESTED * min(_area(other.box), _area(spot.box)) for i in (other.trained_at if still else other.hits)}
        unseen = near - mark.hits
        x1, y1, x2, y2 = mark.analysis_box
        size = (mark.template.shape[2], mark.template.shape[1])
        return {index for index, frame in self.looks
                if index in unseen and _shown(edges(frame[y1:y2, x1:x2], size), mark, PLAIN)}

    def _consistency(self, crops: list[np.ndarray]) -> float:
        """Median correlation between sightings at different times: a mark looks the same at any two
        of its sightings; a subtitle line only at the sightings of that line."""
        pairs = [(i, j) for i in range(len(crops)) for j in range(i + 1, len(crops))]
        if len(pairs) > MAX_PAIRS:
            pairs = [pairs[k] for k in self.rng.choice(len(pairs), MAX_PAIRS, replace=False)]
        return float(np.median([correlation(crops[i], crops[j]) for i, j in pairs]))

    def _families(self, spots: list[Spot], templates: list[np.ndarray]) -> list[list[int]]:
        """Group spots (by index) that show the same picture: a mark that jumps between places."""
        families: list[list[int]] = []
        for k, spot in enumerate(spots):
            for family in families:
                if any(self._same_picture(spot, templates[k], spots[j], templates[j]) for j in family):
                    family.append(k)
                    break
            else:
                families.append([k])
        return families

    @staticmethod
    def _same_picture(spot: Spot, template: np.ndarray, other: Spot, other_template: np.ndarray) -> bool:
        (w, h), (ow, oh) = spot.crop_size, other.crop_size
        if abs(w - ow) > 0.2 * ow or abs(h - oh) > 0.2 * oh:
            return False
        return best_shift(_resized(template, other.crop_size), other_template)[2] >= SAME_MARK

    @staticmethod
    def _evidence(inside: float, around: float, trained_hits: int, sure_hits: int,
                  overlaid: Callable[[], bool | None], hits: int, places: int) -> str | None:
        """Why sightings are a mark, or None: the same picture takes turns at a few places (a jumping
        mark), or its inside stays while its surroundings change, or, on a still scene, a trained
        watermark detector says so, surely or where the pixels lack the camera's noise (`overlaid`, asked
        only then): below its sure score it also fires on scenery (a building's windows on a fixed camera)."""
        if places >= 2:
            return f"the same picture takes turns at {places} places"
        if inside - around >= MOVING_MARGIN:
            return f"stays while the scene around it changes (inside {inside:.2f}, around {around:.2f})"
        if sure_hits >= APPEARANCE_SHARE * hits:
            return "still scene: the trained watermark detector confirms it"
        if trained_hits >= APPEARANCE_SHARE * hits and overlaid():
            return "still scene: the trained watermark detector confirms it, and its pixels lack the camera's noise"
        return None

    def _sightings(self, spot: Spot) -> list[np.ndarray] | None:
        """The kept samples that saw the place, in the video's order, or None when there are fewer than
        `QUIET_LOOKS`: too few to tell what stays from what changes."""
        hits = set(spot.hits)
        frames = [frame for index, frame in sorted(self.looks, key=lambda look: look[0]) if index in hits]
        return frames if len(frames) >= QUIET_LOOKS else None

    def _steady(self, spot: Spot) -> tuple[str, Growth | None] | None:
        """Why a place whose edges disagree across sightings is still a mark, with the pixels it covers, or
        None: its pixels stay while the picture around them changes. A semi-opaque mark with soft edges
        over busy moving scenery is such a place: the scenery's strong edges show through it and set its
        sightings apart, while its colours change by a fraction of the scenery's, and its edges alone
        outline it without its body. Over the kept samples that saw it (`QUIET_LOOKS` at least), each
        sample's change from the place's median picture, inside the proposal (blown-out and crushed
        pixels left out) against the ring around it: in nearly every sample (`STEADY_SHARE`) the inside
        changes by at most `STEADY_PIXELS` of the ring, which changes by `SCENE_MOVES` or more (a still
        scene never passes; asking it of nearly every sample, not of the typical one, is meant to turn away
        what the camera follows and what turns or creases now and then, a face or a T-shirt, and turned
        away captions on a dark plate). The steady pixels within the box of those joined to the proposal
        are the mark's; when they spread to the edge of the surroundings, the camera follows something
        larger than a mark, and it is not one."""
        frames = self._sightings(spot)
        if frames is None:
            return None
        padded, region = spot.regions(self.aw, self.ah)
        cx1, cy1, cx2, cy2 = region
        level, deviation, change = _changes(np.stack([frame[cy1:cy2, cx1:cx2] for frame in frames]).astype(np.float32))
        flat = _blown(level)
        size = (cx2 - cx1, cy2 - cy1)
        inner, own_box = _within(padded, region, size), _within(spot.box, region, size)
        inside = np.zeros(change.shape, bool)
        inside[own_box[1] : own_box[3], own_box[0] : own_box[2]] = True
        ring = _around(change.shape, inner)
        if not ring.any() or (inside & ~flat).sum() < max(1, 0.5 * inside.sum()):
            return None
        scene = float(np.median(change[ring]))
        if scene < SCENE_MOVES:
            return None
        ratios = np.median(deviation[:, inside & ~flat], axis=1) / np.maximum(np.median(deviation[:, ring], axis=1), 1.0)
        worst = float(np.quantile(ratios, STEADY_SHARE))
        if worst > STEADY_PIXELS:
            return None
        steady = without_specks(((change <= STEADY_PIXELS * scene) & ~flat).astype(np.uint8),
                                max(QUIET_SPECK, round(QUIET_PART * _area(own_box))))
        contained, growth = self._outline(steady, own_box, region, padded)
        if not contained:
            return None
        return (f"its pixels stay while the scene around it changes (at most {worst:.2f} of the scene's change in "
                f"{STEADY_SHARE:.0%} of its sightings)", growth)

    def _agreeing(self, spot: Spot) -> tuple[str, Growth | None] | None:
        """Why a place whose edges disagree across sightings is still a mark, with the pixels it covers, or
        None: its signed gradients agree from one sighting to the next while the scene's around it do not.
        A semi-transparent mark over busy scenery (a 0.6-opacity icon over a graffiti wall) adds its own
        gradients to the scene's: the scene's show through and set its edge pictures apart (those are
        unsigned, for an opaque mark's outline flips sign with the background), and its colours change
        with the scene too much for `_steady`, but as the scene moves its gradients point every way and
        cancel out in the median of the sightings, while the mark's stay. Over the kept samples that saw it
        (`QUIET_LOOKS` at least; at most `AGREE_LOOKS` of them, spread over the video, read at `AGREE_SIDE`:
        each is compared with a median of the others), where the ring around the proposal changes by
        `SCENE_MOVES` or more (as for `_steady`: a still scene never passes, however flat or faint), each
        sighting's signed gradients inside the proposal are correlated with the median of the others': in
        nearly every sighting (`STEADY_SHARE`) by `AGREES` or more, while the typical sighting's around it
        correlate by at most `SCENE_AGREES` (a subtitle line whose words change agrees in some only). The
        mark's pixels are the convex hulls of the strong median gradients joined to the proposal; when
        they spread to the edge of the surroundings, the camera follows something larger than a mark, and
        it is not one."""
        frames = self._sightings(spot)
        if frames is None:
            return None
        padded, region = spot.regions(self.aw, self.ah)
        cx1, cy1, cx2, cy2 = region
        size = _fitted(region, AGREE_SIDE)
        crops = np.stack([cv2.resize(frame[cy1:cy2, cx1:cx2], size, interpolation=cv2.INTER_AREA)
                          for frame in frames[:: -(-len(frames) // AGREE_LOOKS)]]).astype(np.float32)
        inner, own_box = _within(padded, region, size), _within(spot.box, region, size)
        ring = _around(crops.shape[1:3], inner)
        if not ring.any() or float(np.median(_changes(crops)[2][ring])) < SCENE_MOVES:
            return None
        stack = np.stack([np.concatenate(signed_gradients(crop), axis=2) for crop in crops])
        scene = float(np.median(_agreement(stack[:, ring])))
        if scene > SCENE_AGREES:
            return None
        worst = float(np.quantile(_agreement(stack[:, own_box[1] : own_box[3], own_box[0] : own_box[2]]),
                                  1 - STEADY_SHARE))
        logger.debug("Signed gradients at {}: {:.2f} inside in {:.0%} of sightings, {:.2f} around", spot.box, worst,
                     STEADY_SHARE, scene)
        if worst < AGREES:
            return None
        contained, growth = self._outline(_hulls(_shape(np.abs(np.median(stack, axis=0)).max(axis=2)).astype(np.uint8)),
                                          own_box, region, padded)
        if not contained:
            return None
        return (f"its edges stay while the scene's change under it (signed gradients agree by {worst:.2f} in "
                f"{STEADY_SHARE:.0%} of its sightings, {scene:.2f} around)", growth)

    def _outline(self, picture: np.ndarray, own_box: Box, region: Box, padded: Box) -> tuple[bool, Growth | None]:
        """Where a mark's pixels (`picture`, uint8, over `region` at any size) joined to its proposal (`own_box`,
        in the picture) reach: (False, None) when they spread to the edge of the surroundings, where the
        camera follows something larger than a mark; else (True, how the mark grows past its padded box, or
        None when it would grow past `MAX_GROWTH` times that box or the largest box a mark may have)."""
        size = (picture.shape[1], picture.shape[0])
        box = _touching(picture, own_box, max(5, min(own_box[2] - own_box[0], own_box[3] - own_box[1]) | 1))
        if _spills(box, region, picture.shape, self.aw, self.ah):
            return False, None
        grown = _outside(box, region, size)
        if _area(grown) > min(self.max_area, MAX_GROWTH * _area(padded)):
            return True, None
        return True, Growth(region, picture, grown, padded[:2])

    def _growth(self, members: list[Spot]) -> Growth | None:
        """Where the mark continues beyond the proposal, from edges that persist across all the
        family's sightings while the picture changes (over the first member's reach), or None when
        nothing persists."""
        size = members[0].wide_size
        pictures = [w if m.wide_size == size else cv2.resize(w, size, interpolation=cv2.INTER_AREA)
                    for m in members for w in m.wide]
        if len(pictures) < 4:
            return None
        stack = np.stack(pictures)
        median = np.median(stack, axis=0)
        spread = np.median(np.abs(stack - median), axis=0)
        persistent = ((median > EDGE) & (spread < STEADY * median)).astype(np.uint8)
        first = members[0]
        reach = first.reach(self.aw, self.ah)
        inner = _within(first.regions(self.aw, self.ah)[0], reach, size)
        outside = _around(persistent.shape, inner)
        if persistent[outside].mean() > STILL_BACKGROUND:
            return None
        persistent = without_specks(persistent, SPECK)
        box = _touching(persistent, inner, 7)
        if box == inner or _area(box) > MAX_GROWTH * _area(inner):
            return None
        return Growth(reach, persistent, _outside(box, reach, size), first.regions(self.aw, self.ah)[0][:2])

    def _quiet_growth(self, spot: Spot) -> Growth | None:
        """Where a still scene's mark continues beyond the proposal (a logo's picture above the word the
        trained detector boxed): an overlaid mark has none of the camera's noise, so across the kept
        samples its pixels vary far less than the scene's. None when the scene is as quiet as the mark
        (clean animation, a static screen, footage the encoder froze), or when the quiet spreads past
        four times the proposal's size or the largest box a mark may have (the scene, not a mark)."""
        if len(self.looks) < QUIET_LOOKS:
            return None
        padded = spot.regions(self.aw, self.ah)[0]
        x1, y1, x2, y2 = padded
        side = max(x2 - x1, y2 - y1)
        for reach in (side, 2 * side, 4 * side):
            region = _grown(padded, reach, self.aw, self.ah)
            grown = self._quiet(region, padded)
            if grown is None:
                return None
            quiet, box = grown
            h, w = quiet.shape
            if not _spills(box, region, quiet.shape, self.aw, self.ah):
                break
        else:
            return None
        if box == _within(padded, region, (w, h)) or _area(box) > self.max_area:
            return None
        return Growth(region, quiet, _outside(box, region, (w, h)), padded[:2])

    def _overlaid(self, spot: Spot) -> bool | None:
        """Whether the place's pixels lack the camera's noise as an overlay's do: a share `OVERLAY_SHARE` of
        its padded box, and `OVERLAY_RATIO` times the share around it, varies far less across the kept
        samples than the scene (or is blown out or crushed, as a white or black mark is). None when
        there are too few samples or the scene is too clean to tell."""
        if len(self.looks) < QUIET_LOOKS:
            return None
        padded = spot.regions(self.aw, self.ah)[0]
        region = _grown(padded, max(padded[2] - padded[0], padded[3] - padded[1]), self.aw, self.ah)
        still = self._stillness(region, padded)
        if still is None:
            return None
        quiet, clipped, inner = still
        flat = quiet | clipped
        inside = np.zeros_like(flat)
        inside[inner[1] : inner[3], inner[0] : inner[2]] = True
        share, around = float(flat[inside].mean()), float(flat[~inside].mean())
        logger.debug("Overlay test at {}: {:.2f} of the place quiet or clipped, {:.3f} around", padded, share, around)
        return share >= OVERLAY_SHARE and share >= OVERLAY_RATIO * around

    def _quiet(self, region: Box, padded: Box) -> tuple[np.ndarray, Box] | None:
        """The quiet pixels of `region` (uint8, its own size) and the padded box grown to those touching
        it, or None when the scene is too clean to tell."""
        still = self._stillness(region, padded)
        if still is None:
            return None
        quiet, clipped, inner = still
        quiet = without_specks((quiet & ~clipped).astype(np.uint8), max(QUIET_SPECK, round(QUIET_PART * _area(inner))))
        gap = max(5, min(inner[2] - inner[0], inner[3] - inner[1]) | 1)  # between a logo and its words
        box = _touching(quiet, inner, gap)
        logger.debug("Quiet growth over {}: grown to {}", region, box)
        return quiet, box

    def _stillness(self, region: Box, padded: Box) -> tuple[np.ndarray, np.ndarray, Box] | None:
        """Per pixel of `region` across the kept samples: whether it varies less than `QUIET` of what the
        scene's pixels of its brightness do (outside the padded box), and whether it is blown out or
        crushed (no noise there either, whatever it shows); with the padded box within the region. None
        when the scene varies less than `NOISE_FLOOR`."""
        rx1, ry1, rx2, ry2 = region
        stack = np.stack([frame[ry1:ry2, rx1:rx2] for _, frame in sorted(self.looks, key=lambda look: look[0])])
        stack = stack.astype(np.float32)
        # From one sample to the next, the largest changes left out: someone walking by or a mark that
        # jumps away is not the place's noise.
        steps = np.abs(np.diff(stack.mean(axis=3), axis=0))
        kept = max(1, round(STEADY_STEPS * len(steps)))
        spread = np.partition(steps, kept - 1, axis=0)[:kept].mean(axis=0)
        level = np.median(stack, axis=0)
        clipped = _blown(level)
        inner = _within(padded, region, (rx2 - rx1, ry2 - ry1))
        outside = _around(spread.shape, inner)
        noise = float(np.median(spread[outside]))
        if noise < NOISE_FLOOR:
            logger.debug("Scene noise {:.2f} over {}: too clean to tell an overlay by", noise, region)
            return None
        # A camera's noise grows with brightness: a shadow varies less than a lit wall, and is no mark.
        bins = np.minimum(level.mean(axis=2) // LEVEL_BIN, 255 // LEVEL_BIN).astype(np.int32)
        expected = np.zeros(bins.max() + 1, np.float32)  # a brightness the scene hardly shows: cannot tell
        for b in range(len(expected)):
            scene = spread[outside & (bins == b)]
            if scene.size >= LEVEL_PIXELS:
                expected[b] = np.median(scene)
        return spread < QUIET * expected[bins], clipped, inner

    def _mark(self, spot: Spot, template: np.ndarray, evidence: str, growth: Growth | None) -> Mark:
        """The mark at this spot in source pixels; its mask is the template's strong edges with closed
        shapes filled, plus the picture it was grown by."""
        padded = spot.regions(self.aw, self.ah)[0]
        mask = _shape(np.hypot(template[0], template[1]))
        area = padded
        if growth is not None:
            dx, dy = padded[0] - growth.anchor[0], padded[1] - growth.anchor[1]  # another place of a jumping mark
            rx1, ry1, rx2, ry2 = _shifted(growth.region, dx, dy)
            gx1, gy1, gx2, gy2 = _shifted(growth.box, dx, dy)
            area = (max(rx1, gx1, 0), max(ry1, gy1, 0), min(rx2, gx2, self.aw), min(ry2, gy2, self.ah))
            area = (min(area[0], padded[0]), min(area[1], padded[1]), max(area[2], padded[2]), max(area[3], padded[3]))
            wide = np.zeros((area[3] - area[1], area[2] - area[0]), bool)
            whole = cv2.resize(fill_holes(growth.picture), (rx2 - rx1, ry2 - ry1), interpolation=cv2.INTER_NEAREST) > 0
            x1, y1, x2, y2 = max(area[0], rx1), max(area[1], ry1), min(area[2], rx2), min(area[3], ry2)
            if x1 < x2 and y1 < y2:
                wide[y1 - area[1] : y2 - area[1], x1 - area[0] : x2 - area[0]] |= whole[y1 - ry1 : y2 - ry1, x1 - rx1 : x2 - rx1]
            inner = cv2.resize(mask.astype(np.uint8), (padded[2] - padded[0], padded[3] - padded[1]),
                               interpolation=cv2.INTER_NEAREST) > 0
            wide[padded[1] - area[1] : padded[3] - area[1], padded[0] - area[0] : padded[2] - area[0]] |= inner
            mask = wide
        if mask.mean() < 0.05:
            mask = np.ones_like(mask)  # no shape to go by: the whole picture
        area, mask = self._take_in_extent(spot, area, mask)
        sx, sy = self.width / self.aw, self.height / self.ah
        x1, y1, x2, y2 = area
        box = (int(x1 * sx), int(y1 * sy), min(self.width, int(np.ceil(x2 * sx))), min(self.height, int(np.ceil(y2 * sy))))
        mask = cv2.resize(cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)), (box[2] - box[0], box[3] - box[1]),
                          interpolation=cv2.INTER_NEAREST) > 0
        background = np.median(np.stack(spot.absent), axis=0) if len(spot.absent) >= 2 else None
        if background is not None and showing(background, template) >= SAME_MARK:
            background = None  # "absent" sightings that look like the mark are the detectors' misses
        return Mark(box, mask, padded, template, set(spot.hits), evidence, background)

    def _elsewhere(self, marks: list[Mark], hits: set[int], looks: dict[int, np.ndarray], proven: bool) -> list[Mark]:
        """The places a mark also takes turns at where no detector proposed it (a logo the detectors
        find at one corner only): its edge picture searched over the kept samples where it was not
        seen and its own place does not show it plainly still (a still logo over swaying grass that a
        detector saw in some samples only: a lookalike in the grass is no second place). A place counts
        when two or more samples show the picture there, always at the same spot, the place does not
        show it while the mark is seen elsewhere (a lookalike in the scene would), and the camera did
        not carry it there (`_carried`). When the places found are the mark's only evidence (not
        `proven` by its own sightings), one of them must show it plainly: a word of a subtitle line is
        found again in other lines, faintly, and beside words that stay on screen while it is gone.
        `looks` caches the kept samples' gradients across calls."""
        reference = marks[0]
        x1, y1, x2, y2 = reference.analysis_box
        th, tw = reference.template.shape[1:]
        fx, fy = tw / (x2 - x1), th / (y2 - y1)
        size = (max(tw, round(self.aw * fx)), max(th, round(self.ah * fy)))
        if all(index in hits for index, _ in self.looks):
            return []  # seen wherever it was looked for: no sample left to show it elsewhere
        for index, frame in self.looks:
            if index not in looks:
                looks[index] = gradients(frame)
        pictures = {index: _hwc(_resized(looks[index], size)) for index, _ in self.looks}
        tx, ty = min(round(x1 * fx), size[0] - tw), min(round(y1 * fy), size[1] - th)
        seen = [p[ty : ty + th, tx : tx + tw] for index, p in pictures.items() if index in hits]
        if not seen:
            return []
        template = np.median(np.stack(seen), axis=0).astype(np.float32)
        scores = _matched(template, {index: p for index, p in pictures.items() if index not in hits})
        known = [(round(m.analysis_box[0] * fx), round(m.analysis_box[1] * fy)) for m in marks]
        best: list[tuple[int, int, int]] = []
        for index, score in scores.items():
            if score[max(0, ty - NEAR) : ty + NEAR + 1, max(0, tx - NEAR) : tx + NEAR + 1].max() >= STILL_THERE:
                continue  # still at its own place (only the detectors missed it there): not elsewhere now
            score = score.copy()
            for kx, ky in known:
                score[max(0, ky - th) : ky + th, max(0, kx - tw) : kx + tw] = -1
            _, value, _, (px, py) = cv2.minMaxLoc(score)
            if value >= FOUND:
                best.append((index, px, py))
        found: list[Mark] = []
        plain = False
        if best:  # the samples where it was seen speak only for a place found elsewhere
            scores |= _matched(template, {index: p for index, p in pictures.items() if index in hits})
        while best:
            _, px, py = best[0]
            place = [b for b in best if abs(b[1] - px) <= NEAR and abs(b[2] - py) <= NEAR]
            best = [b for b in best if b not in place]
            near = {index: float(score[max(0, py - NEAR) : py + NEAR + 1, max(0, px - NEAR) : px + NEAR + 1].max())
                    for index, score in scores.items()}
            while_elsewhere = [v for index, v in near.items() if index in hits]
            lookalike = float(np.median(while_elsewhere)) if while_elsewhere else 0.0
            if len(place) < 2 or lookalike >= FOUND or \
                    self._carried(marks, [b[0] for b in place], px / fx - x1, py / fy - y1):
                continue
            shown = {i for i, v in near.items() if v >= FOUND}
            plain |= float(np.median([near[i] for i in shown])) >= PLAIN and lookalike <= LOOKALIKE
            found.append(self._moved(reference, px / fx - x1, py / fy - y1, shown, template.transpose(2, 0, 1)))
        return found if proven or plain else []

    def _carried(self, marks: list[Mark], found: list[int], dx: float, dy: float) -> bool:
        """Whether the camera moved the picture there: between each sample that found it (dx, dy) analysis px
        from the first mark's place and the nearest sample that saw it at that place, the whole picture
        shifted by that much (phase correlation, the marks' places and the one found blanked, so that
        across a cut the mark's own jump is not what is read; median over the samples). A camera
        drifting over grass carries a tuft to a second place; a mark that jumps does not go where the
        scene goes."""
        frames = dict(self.looks)
        own = sorted(i for i in frames if i in marks[0].hits)
        if not own:
            return False
        x1, y1, x2, y2 = marks[0].analysis_box
        there = (round(x1 + dx), round(y1 + dy), round(x2 + dx), round(y2 + dy))
        window = None
        misses = []
        for j in found:
            grey = []
            for k in (min(own, key=lambda k: abs(k - j)), j):
                picture = cv2.cvtColor(frames[k], cv2.COLOR_RGB2GRAY).astype(np.float32)
                for bx1, by1, bx2, by2 in [m.analysis_box for m in marks] + [there]:
                    picture[max(0, by1) : max(0, by2), max(0, bx1) : max(0, bx2)] = picture.mean()
                grey.append(picture)
            if window is None:
                window = cv2.createHanningWindow((grey[0].shape[1], grey[0].shape[0]), cv2.CV_32F)
            (sx, sy), response = cv2.phaseCorrelate(*grey, window)
            misses.append(float(np.hypot(sx - dx, sy - dy)) if response >= LOCKED_ON else np.inf)
        return float(np.median(misses)) <= max(CARRIED, CARRIED_SHARE * float(np.hypot(dx, dy)))

    def _moved(self, reference: Mark, dx: float, dy: float, shown: set[int], template: np.ndarray) -> Mark:
        """`reference` at another place (shifted by dx, dy analysis px, kept inside the frame), checked per
        frame by the edge picture it was found by: the reference place's, since on a fixed camera the new
        place's own median would be mostly its scenery, shown whether the mark is there or not."""
        ax1, ay1, ax2, ay2 = reference.analysis_box
        dx = int(np.clip(round(dx), -ax1, self.aw - ax2))
        dy = int(np.clip(round(dy), -ay1, self.ah - ay2))
        sx, sy = self.width / self.aw, self.height / self.ah
        bx1, by1, bx2, by2 = reference.box
        sdx = int(np.clip(round(dx * sx), -bx1, self.width - bx2))
        sdy = int(np.clip(round(dy * sy), -by1, self.height - by2))
        evidence = reference.evidence.split(" (")[0] + " (this place found by the mark's picture)"
        return Mark((bx1 + sdx, by1 + sdy, bx2 + sdx, by2 + sdy), reference.mask, (ax1 + dx, ay1 + dy, ax2 + dx, ay2 + dy),
                    np.ascontiguousarray(template), shown, evidence)

    def _take_in_extent(self, spot: Spot, area: Box, mask: np.ndarray) -> tuple[Box, np.ndarray]:
        """Widen a mark to every proposal that joined its place: one detector may have boxed only part
        of the mark (a word of a handle); the part beyond the place's own picture is masked whole, to
        the proposal's own box and EXTENT_MARGIN px (the detectors' boxes already take in the mark's
        rim; padding them too repainted strips of scenery beside the mark).
        Proposals that end inside the place's padded picture add nothing."""
        x1, y1, x2, y2 = spot.extent
        if x1 >= area[0] and y1 >= area[1] and x2 <= area[2] and y2 <= area[3]:
            return area, mask
        pad = EXTENT_MARGIN
        ex = (max(0, x1 - pad) if x1 < area[0] else max(area[0], x1 - pad),
              max(0, y1 - pad) if y1 < area[1] else max(area[1], y1 - pad),
              min(self.aw, x2 + pad) if x2 > area[2] else min(area[2], x2 + pad),
              min(self.ah, y2 + pad) if y2 > area[3] else min(area[3], y2 + pad))
        union = (min(ex[0], area[0]), min(ex[1], area[1]), max(ex[2], area[2]), max(ex[3], area[3]))
        whole = np.zeros((union[3] - union[1], union[2] - union[0]), bool)
        whole[ex[1] - union[1] : ex[3] - union[1], ex[0] - union[0] : ex[2] - union[0]] = True
        inner = cv2.resize(mask.astype(np.uint8), (area[2] - area[0], area[3] - area[1]), interpolation=cv2.INTER_NEAREST)
        whole[area[1] - union[1] : area[3] - union[1], area[0] - union[0] : area[2] - union[0]] = inner > 0
        return union, whole

    def _say_what_decided(self) -> None:
        if not self.marks:
            self.notes.append(f"no watermark: nothing recurred with a mark's evidence over {self.samples} sampled frames")
            return
        kinds = sorted({m.evidence.split(" (")[0] for m in self.marks})
        self.notes.append(f"{len(self.marks)} mark(s) found from {self.samples} sampled frames; evidence: " + "; ".join(kinds))

    # Pass 2 ---------------------------------------------------------------------------------------

    def detect(self, frames: list[np.ndarray]) -> list[list[Detection]]:
        """Each frame's marks: those seen at the samples on both sides of it, or whose edges it shows.
        After the last sample only the one before speaks for the frame, so the frame must also show
        the mark, if faintly (a mark may have jumped away since)."""
        out: list[list[Detection]] = []
        for frame in frames:
            index = self.frames_seen
            self.frames_seen += 1
            before, after = index // self.every, -(-index // self.every)
            tail = after >= self.samples
            dets = []
            for mark in self.marks:
                around = before in mark.hits and (tail or after in mark.hits)
                if (around and not tail) or self._shows(frame, mark, SHOWN_FAINTLY if around else SHOWN):
                    dets.append(Detection(box=mark.box, score=1.0, source=self.name, mask=mark.mask))
            out.append(dets)
        return out

    def _shows(self, frame: np.ndarray, mark: Mark, threshold: float) -> bool:
        """Whether the frame shows the mark's edge picture where it was taken (`_shown`)."""
        return _shown(self._picture(frame, mark), mark, threshold)

    def _match(self, frame: np.ndarray, mark: Mark) -> float:
        """How much the frame shows the mark's edge picture, read where that picture was taken (the analysis
        box in source pixels: the mark's box may be grown beyond it)."""
        return showing(self._picture(frame, mark), mark.template)

    def _picture(self, frame: np.ndarray, mark: Mark) -> np.ndarray:
        """The frame's edge picture where the mark's was taken."""
        ax1, ay1, ax2, ay2 = mark.analysis_box
        sx, sy = self.width / self.aw, self.height / self.ah
        x1, y1 = int(ax1 * sx), int(ay1 * sy)
        x2, y2 = max(x1 + 1, min(self.width, round(ax2 * sx))), max(y1 + 1, min(self.height, round(ay2 * sy)))
        return edges(cv2.resize(frame[y1:y2, x1:x2], (ax2 - ax1, ay2 - ay1), interpolation=cv2.INTER_AREA),
                     (mark.template.shape[2], mark.template.shape[1]))
