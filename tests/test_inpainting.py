"""Inpainting: LaMa through a tiny TorchScript stand-in with LaMa's forward(image, mask), OOM
fallbacks, the OpenCV fallback, blend inversion and flicker on real footage."""

from __future__ import annotations

import itertools

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from app.config import ProcessOptions, Settings
from app.detection.types import Detection
from app.errors import ConfigError, InputError
from app.inpainting.lama import LamaFiller, load_lama
from app.inpainting.masks import crops_for
from app.inpainting.opencv import OpenCVFiller
from app.inpainting.restorer import Restorer
from app.inpainting.smooth import BAND, ROUGH, SMOOTH_ERROR, membrane, smooth_fill
from app.inpainting.unblend import BlendEstimator, _levels
from app.media.probe import probe
from app.media.reader import read_frames
from app.service import WatermarkRemovalService
from scripts.footage import clip_frames, composite, logo_rgba, mark_box, opencv_data, pan_frames, write_clip
from tests.conftest import psnr


class BorderMeanFill(torch.nn.Module):
    """LaMa's signature; fills the mask with the mean of the unmasked pixels of each image."""

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep = 1.0 - mask
        mean = (image * keep).sum(dim=(2, 3), keepdim=True) / keep.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)
        return image * keep + mean * mask


@pytest.fixture(scope="module")
def tiny_lama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lama") / "tiny-lama.pt"
    torch.jit.script(BorderMeanFill()).save(str(path))
    return path


class Recording:
    """Wraps the loaded TorchScript module to record the shapes it is called with."""

    def __init__(self, module, oom_when=None) -> None:
        self.module, self.calls, self.oom_when, self.moved_to = module, [], oom_when, None

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.calls.append((tuple(image.shape), tuple(mask.shape)))
        if self.oom_when is not None and self.oom_when(image.shape[0], self):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return self.module(image, mask)

    def to(self, device: str) -> Recording:
        self.moved_to = device
        return self


class FakeCudaLama(LamaFiller):
    """A LamaFiller that believes it is on CUDA (no GPU here): tensors stay where they are."""

    def _to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor


def frame_with_box(h: int = 360, w: int = 640) -> np.ndarray:
    rng = np.random.default_rng(0)
    frame = rng.integers(90, 110, (h, w, 3), dtype=np.uint8)
    frame[100:140, 200:300] = 255
    return frame


def test_lama_fills_crops_at_the_right_place_with_padding_and_batching(tiny_lama: Path) -> None:
    model = Recording(load_lama(tiny_lama, "cpu"))
    filler = LamaFiller(model, "cpu", batch=3, max_side=512)
    restorer = Restorer(filler, 640, 360, margin=64, kernel=7, iterations=1, unblend=False)
    frames = [frame_with_box() for _ in range(5)]
    dets = [[Detection(box=(200, 100, 300, 140), source="regions")] for _ in frames]
    out = restorer.inpaint_batch(frames, dets)
    assert [c[0][0] for c in model.calls] == [3, 2], "five same-size crops go in batches of 3"
    assert all(c[0][2] % 8 == 0 and c[0][3] % 8 == 0 for c in model.calls)
    for before, after in zip(frames, out, strict=True):
        assert abs(int(after[120, 250].mean()) - 100) <= 3, "the white box is filled with the surrounding mean"
        assert np.array_equal(after[:20], before[:20]) and np.array_equal(after[:, :100], before[:, :100])
        assert after.shape == before.shape


def test_lama_scales_large_crops_down_and_back(tiny_lama: Path) -> None:
    model = Recording(load_lama(tiny_lama, "cpu"))
    restorer = Restorer(LamaFiller(model, "cpu", batch=4, max_side=256), 1280, 720, 64, 7, 1, unblend=False)
    frame = frame_with_box(720, 1280)
    frame[200:500, 300:900] = 250
    out = restorer.inpaint_batch([frame], [[Detection(box=(300, 200, 900, 500))]])[0]
    (shape, _), = model.calls
    assert max(shape[2:]) <= 256 + 7
    assert abs(int(out[350, 600].mean()) - 100) <= 6 and out.shape == frame.shape


def test_lama_oom_halves_batch_then_moves_to_cpu(tiny_lama: Path) -> None:
    model = Recording(load_lama(tiny_lama, "cpu"), oom_when=lambda n, rec: rec.moved_to != "cpu")
    filler = FakeCudaLama(model, "cuda", batch=4, max_side=512)
    restorer = Restorer(filler, 640, 360, 64, 7, 1, unblend=False)
    frames = [frame_with_box() for _ in range(6)]
    out = restorer.inpaint_batch(frames, [[Detection(box=(200, 100, 300, 140))] for _ in frames])
    assert len(out) == 6 and all(abs(int(f[120, 250].mean()) - 100) <= 3 for f in out), "no frame lost"
    assert [m for m in filler.fallbacks] == [
        "inpainting: CUDA out of memory; LaMa batch halved to 2",
        "inpainting: CUDA out of memory; LaMa batch halved to 1",
        "inpainting: CUDA out of memory at batch 1; LaMa moved to CPU",
    ]
    assert filler.device == "cpu" and model.moved_to == "cpu"
    following = FakeCudaLama(model, "cuda", batch=4, max_side=512)
    assert model.moved_to == "cuda" and following.device == "cuda" and following.ladder.batch == 4, \
        "the next job runs on its GPU plan again, though the model is shared"


def test_auto_uses_lama_when_configured_and_opencv_otherwise(tiny_lama: Path, pan_logo, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = pan_logo
    report = WatermarkRemovalService(Settings(), probe_gpu=False).clean(path, tmp_path / "a.mp4")
    assert report.inpainter == "opencv" and "no LAMA_MODEL configured" in report.inpainter_reason
    monkeypatch.setenv("LAMA_MODEL", str(tiny_lama))
    report = WatermarkRemovalService(Settings(), probe_gpu=False).clean(path, tmp_path / "b.mp4")
    assert report.inpainter == "lama" and tiny_lama.name in report.inpainter_reason
    assert report.output.frames == report.input.frames
    monkeypatch.setenv("LAMA_MODEL", str(tmp_path / "missing.pt"))
    with pytest.raises(ConfigError, match="LaMa weights not found"):
        WatermarkRemovalService(Settings(), probe_gpu=False).clean(path, tmp_path / "c.mp4")


def test_unblending_beats_inpainting_on_semi_transparent_text(pan_text, tmp_path: Path) -> None:
    clean, marked, truth = pan_text
    x1, y1, x2, y2 = truth
    scores = {}
    for unblend in (False, True):
        out = tmp_path / f"out-{unblend}.mp4"
        report = WatermarkRemovalService(probe_gpu=False).clean(marked, out, ProcessOptions(detector="static", unblend=unblend))
        values = [psnr(o[y1:y2, x1:x2], c[y1:y2, x1:x2]) for c, o in zip(read_frames(probe(clean)), read_frames(probe(out)))]
        scores[unblend] = float(np.mean(values))
        assert (report.restored_pixels["unblended"] > 0) == unblend
    assert scores[True] > scores[False] + 3.0, scores


def test_unblending_inverts_over_the_confident_pixels_as_over_the_whole_crop() -> None:
    """The inversion runs on the confident pixels' bounding rectangle and clips with OpenCV's thresholds:
    the same levels as the whole crop's multiply-add clipped by numpy, closer to the clean picture than
    the marked one, and only the pixels it could not invert are left to inpaint."""
    logo = logo_rgba(120)
    x, y = 640 - 140, 360 - 180
    clean = list(pan_frames("fruits.jpg", (640, 360), 40, 25))
    marked = [composite(f, logo, x, y, 0.5) for f in clean]
    x1, y1, x2, y2 = mark_box(logo, x, y)
    box = (x1 - 16, y1 - 16, x2 + 16, y2 + 16)
    mask = np.zeros((box[3] - box[1], box[2] - box[0]), np.uint8)
    mask[12:-12, 12:-12] = 255
    estimator = BlendEstimator(640, 360)
    for frame in marked:
        estimator.observe(frame, [box])
    crop, truth = (f[box[1] : box[3], box[0] : box[2]] for f in (marked[-1], clean[-1]))
    restored, remaining = estimator.undo(crop, box, mask)
    estimate = estimator._estimate(box, mask)
    assert estimate is not None and estimate.window is not None
    gain, offset = np.ones(crop.shape, np.float32), np.zeros(crop.shape, np.float32)
    gain[estimate.window], offset[estimate.window] = estimate.gain, estimate.offset
    whole = (crop.astype(np.float32) - offset) * gain + 0.5
    assert (whole < 0).any()  # the clipping is exercised (no pixel of this clip comes out over 255)
    np.testing.assert_array_equal(restored, np.clip(whole, 0, 255).astype(np.uint8))
    inside = mask > 0
    undone = inside & (remaining == 0)
    rx, ry, rw, rh = cv2.boundingRect(undone.astype(np.uint8))
    assert estimate.window == (slice(ry, ry + rh), slice(rx, rx + rw))
    edges = np.array([[-300.0, -0.5, -0.0, 0.2, 0.99, 254.9, 255.0, 255.5, 300.0]], np.float32)
    np.testing.assert_array_equal(_levels(edges.copy()), np.clip(edges, 0, 255).astype(np.uint8))
    assert 0 < int(undone.sum()) < int(inside.sum())
    assert not (remaining[~inside] > 0).any()
    assert psnr(restored[undone], truth[undone]) > psnr(crop[undone], truth[undone]) + 3


def flicker(frames: list[np.ndarray], box: tuple[int, int, int, int]) -> float:
    x1, y1, x2, y2 = box
    crops = [f[y1:y2, x1:x2].astype(np.float64) for f in frames]
    return float(np.mean([np.abs(b - a).mean() for a, b in zip(crops, crops[1:])]))


@pytest.mark.parametrize("filler", ["opencv", "lama"])
def test_flicker_on_fixed_camera_stays_near_clean_footage(filler: str, tiny_lama: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """vtest.avi (fixed camera) with opencv's logo composited: the fill must not flicker more than 1.5x the clean clip."""
    logo = logo_rgba(64)
    clean = list(clip_frames("vtest.avi", 120))
    clip = tmp_path / "vtest_logo.mkv"
    write_clip((composite(f, logo, 600, 30, 0.7) for f in clean), clip, 10, audio=False, lossless=True)
    box = mark_box(logo, 600, 30)
    if filler == "lama":
        monkeypatch.setenv("LAMA_MODEL", str(tiny_lama))
    region = (box[0], box[1], box[2] - box[0], box[3] - box[1])
    out = tmp_path / "out.mp4"
    WatermarkRemovalService(Settings(), probe_gpu=False).clean(clip, out, ProcessOptions(regions=[region]))
    restored = list(read_frames(probe(out)))
    assert flicker(restored, box) <= 1.5 * flicker(clean, box) + 0.5


def jumping_mark_frames(clean: list[np.ndarray]) -> tuple[list[np.ndarray], list[tuple[int, int, int, int]]]:
    """The opencv logo jumping between three spots every 20 frames, as the Sora mark does."""
    logo = logo_rgba(56)
    spots = [(40, 40), (600, 60), (300, 420)]
    marked, boxes = [], []
    for i, frame in enumerate(clean):
        x, y = spots[(i // 20) % 3]
        marked.append(composite(frame, logo, x, y, 0.9))
        boxes.append(mark_box(logo, x, y))
    return marked, boxes


def restore_all(restorer: Restorer, marked: list[np.ndarray], boxes: list) -> list[np.ndarray]:
    out = []
    for i in range(0, len(marked), 8):
        dets = [[Detection(box=b, source="yolo")] for b in boxes[i : i + 8]]
        restorer.observe(marked[i : i + 8], dets)
        out += restorer.inpaint_batch(marked[i : i + 8], dets)
    return out


def test_still_camera_restores_a_jumping_mark_from_frames_that_showed_the_picture() -> None:
    clean = list(clip_frames("vtest.avi", 120))
    marked, boxes = jumping_mark_frames(clean)
    h, w = clean[0].shape[:2]
    restorer = Restorer(OpenCVFiller(), w, h, margin=32, kernel=7, iterations=1, unblend=False)
    out = restore_all(restorer, marked, boxes)
    later = range(60, 120)  # after one full cycle every spot has been seen uncovered
    ours = np.mean([psnr(out[i][b[1]:b[3], b[0]:b[2]], clean[i][b[1]:b[3], b[0]:b[2]]) for i, b in zip(later, boxes[60:])])
    telea = Restorer(OpenCVFiller(), w, h, margin=32, kernel=7, iterations=1, unblend=False)
    telea.memory.recall = lambda box, mask: None  # the same pipeline without the memory
    guessed = restore_all(telea, marked, boxes)
    theirs = np.mean([psnr(guessed[i][b[1]:b[3], b[0]:b[2]], clean[i][b[1]:b[3], b[0]:b[2]]) for i, b in zip(later, boxes[60:])])
    assert restorer.pixels["remembered"] > 0
    assert ours > 30 and ours > theirs + 6, (ours, theirs)


def test_places_known_before_streaming_restore_a_jumping_mark_on_its_first_visit() -> None:
    """The general stack decides its marks before streaming; told their places, the restorer remembers
    the picture there from the first frame, so a spot's first visit is restored too."""
    clean = list(clip_frames("vtest.avi", 60))
    marked, boxes = jumping_mark_frames(clean)
    h, w = clean[0].shape[:2]
    first_visits = range(20, 60)  # the second and third spots, never uncovered before the mark arrives
    results = []
    for told in (True, False):
        restorer = Restorer(OpenCVFiller(), w, h, margin=32, kernel=7, iterations=1, unblend=False)
        if told:
            restorer.expect([Detection(box=b, source="auto") for b in (boxes[0], boxes[20], boxes[40])])
        out = restore_all(restorer, marked, boxes)
        results.append(np.mean([psnr(out[i][b[1]:b[3], b[0]:b[2]], clean[i][b[1]:b[3], b[0]:b[2]])
                                for i, b in zip(first_visits, boxes[20:60])]))
    assert results[0] > 30 and results[0] > results[1] + 6, results


def test_moving_camera_never_uses_remembered_pixels() -> None:
    from scripts.footage import pan_frames

    clean = list(pan_frames("building.jpg", (768, 576), 80, 25))
    marked, boxes = jumping_mark_frames(clean)
    restorer = Restorer(OpenCVFiller(), 768, 576, margin=32, kernel=7, iterations=1, unblend=False)
    restore_all(restorer, marked, boxes)
    assert restorer.pixels["remembered"] == 0 and restorer.pixels["inpainted"] > 0


def test_jittering_boxes_of_one_mark_share_a_crop_size_and_batch(tiny_lama: Path) -> None:
    model = Recording(load_lama(tiny_lama, "cpu"))
    restorer = Restorer(LamaFiller(model, "cpu", batch=8, max_side=512), 640, 360, 64, 7, 1, unblend=False)
    jitter = [(200 + d, 100 - d, 300 + 2 * d, 140 + d) for d in (0, 1, 3, -2, 2, -1, 4, 0)]
    frames = [frame_with_box() for _ in jitter]
    restorer.inpaint_batch(frames, [[Detection(box=b, source="yolo")] for b in jitter])
    assert [c[0][0] for c in model.calls] == [8], "eight jittering crops, one batch"


@pytest.mark.parametrize("footage", ["pan", "still"])
def test_remembered_picture_is_only_recalled_while_the_camera_stands_still(footage: str) -> None:
    """A slow pan over a flat-colour picture (HappyFish.jpg) changes few pixels from one frame to the
    next, yet moves all of them: what memory recalls behind a mark must still be the picture there now.
    On a fixed camera (vtest.avi) it is recalled, and right."""
    from app.inpainting.temporal import BackgroundMemory

    if footage == "pan":
        frames = list(pan_frames("HappyFish.jpg", (640, 360), 75, 25))
    else:
        frames = list(clip_frames("vtest.avi", 60))
    h, w = frames[0].shape[:2]
    places = [(w - 120, h - 60, w - 20, h - 20), (20, 20, 120, 60)]
    memory = BackgroundMemory(w, h)
    recalled, errors = 0, []
    for i, frame in enumerate(frames):
        x1, y1, x2, y2 = places[(i // 15) % 2]  # a mark that jumps between two corners every 15 frames
        masked = np.zeros((h, w), bool)
        masked[y1:y2, x1:x2] = True
        memory.next_frame(frame, masked, [(x1, y1, x2, y2)])
        found = memory.recall((x1, y1, x2, y2), np.ones((y2 - y1, x2 - x1), np.uint8))
        if found is not None:
            picture, valid = found
            recalled += int(valid.sum())
            truth = frame[y1:y2, x1:x2].astype(np.int16)
            errors.append(float(np.abs(picture.astype(np.int16) - truth)[valid].mean()))
        memory.remember(frame, masked)
    if footage == "still":
        assert recalled > 0 and max(errors) < 8, (recalled, errors)
    else:
        assert not errors or max(errors) < 8, errors


def test_the_camera_test_reads_a_decoded_frames_luma_as_opencvs_grey(tmp_path: Path) -> None:
    """A decoded frame's still-camera probe comes from its luma plane, rescaled: within a level of the
    grey OpenCV makes from its RGB, so STILL_LEVEL means the same on both paths."""
    from app.inpainting.temporal import _small_grey
    from app.media.reader import decoded

    for frame in clip_frames("vtest.avi", 3):
        planes = cv2.cvtColor(np.ascontiguousarray(frame[: frame.shape[0] // 2 * 2, : frame.shape[1] // 2 * 2]),
                              cv2.COLOR_RGB2YUV_I420)
        as_decoded = decoded(planes)
        size = (as_decoded.shape[1] // 4, as_decoded.shape[0] // 4)
        difference = np.abs(_small_grey(as_decoded, size) - _small_grey(np.ascontiguousarray(as_decoded), size))
        assert np.median(difference) <= 1 and difference.max() <= 3, (np.median(difference), difference.max())


def test_a_seeds_file_that_does_not_fit_the_part_is_refused(tmp_path: Path) -> None:
    from app.inpainting.temporal import load_seeds, save_seeds

    save_seeds(tmp_path / "seeds.npz", {40: [((600, 10, 700, 60), np.zeros((50, 100, 3), np.uint8))]})
    assert len(load_seeds(tmp_path / "seeds.npz", 40, 720, 480)) == 1
    with pytest.raises(InputError, match="does not fit"):
        load_seeds(tmp_path / "seeds.npz", 40, 640, 480)


def test_the_footprint_of_known_places_holds_every_crop_of_any_of_them() -> None:
    """The decoder converts only the restorer's footprint of the decided places: whichever of them a
    frame shows, every crop (merged where they overlap, quantized, at the frame's edges) lies inside it."""
    rng = np.random.default_rng(3)
    w, h = 640, 360
    restorer = Restorer(OpenCVFiller(), w, h, 64, 7, 1)
    for _ in range(200):
        places = []
        for _ in range(int(rng.integers(1, 5))):
            x1, y1 = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
            places.append(Detection(box=(x1, y1, int(rng.integers(x1 + 4, min(w, x1 + 200) + 1)),
                                         int(rng.integers(y1 + 4, min(h, y1 + 80) + 1))), source="auto"))
        covered = np.zeros((h, w), bool)
        for x1, y1, x2, y2 in restorer.footprint(places):
            covered[y1:y2, x1:x2] = True
        for size in range(1, len(places) + 1):
            for shown in itertools.combinations(places, size):
                for crop in restorer._crops(list(shown)):
                    x1, y1, x2, y2 = crop.box
                    assert covered[y1:y2, x1:x2].all(), (crop.box, [p.box for p in places])
        assert len(places) > 1 or covered.mean() < 0.6, "one place: a part of the frame, not all of it"


@pytest.mark.parametrize("camera", ["still", "moved"])
def test_a_part_recalls_a_seed_from_before_it_only_if_the_camera_has_not_moved(camera: str, tmp_path: Path) -> None:
    """A split job's part starts with the mark already over a place it never sees free; the parent hands
    it that place's picture from 40 frames earlier (fixed camera, vtest.avi), through a seeds file. It is
    recalled behind the mark, and right; a picture of somewhere else (the camera moved since) is refused."""
    from app.inpainting.temporal import BackgroundMemory, load_seeds, save_seeds

    frames = list(clip_frames("vtest.avi", 60))
    h, w = frames[0].shape[:2]
    x1, y1, x2, y2 = w - 150, h - 90, w - 30, h - 30
    seed_box = (x1 - 12, y1 - 12, x2 + 12, y2 + 12)
    source = frames[0] if camera == "still" else np.ascontiguousarray(frames[0][::-1, ::-1])
    save_seeds(tmp_path / "seeds.npz", {40: [(seed_box, source[seed_box[1]:seed_box[3], seed_box[0]:seed_box[2]])],
                                        0: [((0, 0, 8, 8), frames[0][:8, :8])]})
    seeds = load_seeds(tmp_path / "seeds.npz", 40, w, h)
    assert [box for box, _ in seeds] == [seed_box]
    memory = BackgroundMemory(w, h)
    memory.keep([seed_box])
    memory.seed(seeds)
    masked = np.zeros((h, w), bool)
    masked[y1:y2, x1:x2] = True
    recalled = []
    for frame in frames[40:]:
        memory.next_frame(frame, masked, [(x1, y1, x2, y2)])
        recalled.append(memory.recall((x1, y1, x2, y2), np.ones((y2 - y1, x2 - x1), np.uint8)))
        memory.remember(frame, masked)
    if camera == "moved":
        assert recalled == [None] * len(recalled)
        return
    for frame, found in zip(frames[40:], recalled, strict=True):
        assert found is not None and found[1].all()
        error = np.abs(found[0].astype(np.int16) - frame[y1:y2, x1:x2].astype(np.int16)).mean()
        assert error < 8, error


@pytest.mark.parametrize("shape", [(96, 160), (97, 131)])
def test_telea_fills_from_pixels_wholly_outside_the_mask_at_any_size(shape: tuple[int, int]) -> None:
    """A white mark on a flat grey picture: every masked pixel comes back grey. Telea runs at half size, where
    a pixel a quarter covered by the mark must count as hidden, or the mark's white leaks into the fill."""
    picture = np.full((*shape, 3), 100, np.uint8)
    mask = np.zeros(shape, np.uint8)
    mask[31:58, 21:114] = 255
    mask[40:47, 5:20] = 255
    marked = np.where(mask[:, :, None] > 0, 255, picture).astype(np.uint8)
    filled = OpenCVFiller().fill([marked], [mask])[0]
    assert filled.shape == picture.shape
    assert np.abs(filled.astype(int) - 100)[mask > 0].max() <= 3  # Telea itself strays 3 levels on a flat picture


def test_membrane_fill_reproduces_a_gradient_to_half_a_level_where_telea_streaks() -> None:
    y, x = np.mgrid[0:96, 0:256].astype(np.float32)
    picture = np.stack([40 + x * 0.5 + y * 0.3, 200 - x * 0.2, 20 + y], axis=2)
    hole = np.zeros((96, 256), bool)
    hole[24:72, 32:224] = True
    filled = membrane(picture, hole)
    telea = OpenCVFiller().fill([picture.astype(np.uint8)], [hole.astype(np.uint8) * 255])[0]
    assert np.abs(filled - picture)[hole].mean() < 0.5
    assert np.abs(telea.astype(np.float32) - picture.astype(np.uint8))[hole].mean() > 3.0


def test_the_smoothness_test_decides_as_the_three_channel_prediction_does() -> None:
    """The channels' mean is tested first (half the cost); across crops of real photos, sharp and
    blurred, under a handle's mask, the verdict is the one the prediction on RGB gives."""
    rng = np.random.default_rng(7)
    photos = [cv2.cvtColor(cv2.imread(str(opencv_data() / name)), cv2.COLOR_BGR2RGB)
              for name in ("aero3.jpg", "fruits.jpg", "building.jpg", "baboon.jpg", "pic1.png")]
    verdicts = []
    for k in range(300):
        photo = photos[k % len(photos)]
        photo = cv2.GaussianBlur(photo, (0, 0), 2 + k % 9) if k % 2 else photo
        h, w = (int(v) for v in rng.integers(40, 160, 2))
        y, x = int(rng.integers(0, photo.shape[0] - h)), int(rng.integers(0, photo.shape[1] - w))
        picture = photo[y:y + h, x:x + w].astype(np.float32)
        mask = np.zeros((h, w), np.uint8)
        cv2.putText(mask, "@clip", (w // 10, h * 2 // 3), cv2.FONT_HERSHEY_SIMPLEX, h / 80, 255, max(1, h // 30))
        small = cv2.resize(picture, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        hidden = cv2.resize((mask > 0).astype(np.float32), (w // 2, h // 2), interpolation=cv2.INTER_AREA) > 0
        grown = cv2.dilate(hidden.astype(np.uint8), np.ones((2 * BAND + 1, 2 * BAND + 1), np.uint8)) > 0
        band = grown & ~hidden
        rough = np.abs(cv2.Laplacian(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), cv2.CV_32F))[band].mean() > ROUGH
        error = np.abs(membrane(small, grown)[band] - small[band]).mean()
        expected = bool(band.any() and not grown.all() and not rough and error <= SMOOTH_ERROR)
        verdicts.append(expected)
        assert (smooth_fill(picture.astype(np.uint8), mask) is not None) == expected
    assert 10 < sum(verdicts) < 290  # both verdicts were tested


@pytest.mark.parametrize(("spot", "smooth"), [((40, 8), True), ((200, 10), True), ((300, 300), False), ((100, 400), False)])
def test_a_mark_on_smooth_surroundings_is_interpolated_and_one_on_texture_is_not(spot: tuple[int, int], smooth: bool) -> None:
    """aero3.jpg: an opaque logo on the hazy sky is interpolated (better than Telea there); on the city
    below, the band around the mask is not predicted within the tolerance, so Telea fills it as before."""
    picture = cv2.cvtColor(cv2.imread(str(opencv_data() / "aero3.jpg")), cv2.COLOR_BGR2RGB)
    h, w = picture.shape[:2]
    logo = logo_rgba(40)
    marked = composite(picture, logo, *spot, 1.0)
    det = Detection(box=mark_box(logo, *spot), source="auto")
    restorer = Restorer(OpenCVFiller(), w, h, 32, 7, 1, unblend=False)
    ours = restorer.inpaint_batch([marked.copy()], [[det]])[0]
    crop = crops_for([det], w, h, 32, 7, 1)[0]
    x1, y1, x2, y2 = crop.box
    telea = marked.copy()
    telea[y1:y2, x1:x2] = np.where(crop.mask[:, :, None] > 0, OpenCVFiller().fill([marked[y1:y2, x1:x2]], [crop.mask])[0],
                                   marked[y1:y2, x1:x2])
    bx1, by1, bx2, by2 = det.box
    inside = (slice(by1, by2), slice(bx1, bx2))
    assert (restorer.pixels["interpolated"] > 0) == smooth
    assert (restorer.pixels["inpainted"] > 0) != smooth
    if smooth:
        assert psnr(ours[inside], picture[inside]) > psnr(telea[inside], picture[inside]) + 1.0
        assert psnr(ours[inside], picture[inside]) > 38
