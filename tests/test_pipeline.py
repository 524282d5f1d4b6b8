"""The whole pipeline on real footage: detection quality, precision, inpainting gain, CLI contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.config import ProcessOptions
from app.detection.types import iou
from app.media.probe import probe
from app.media.reader import read_frames
from app.report import Report
from app.service import WatermarkRemovalService
from scripts.footage import clip_frames, composite, mark_box, text_rgba, write_clip
from tests.conftest import box_mask, psnr

ROOT = Path(__file__).resolve().parent.parent


def masked_fraction(report: Report) -> float:
    """Mean fraction of the frame covered by the report's boxes."""
    info = report.input
    total = 0.0
    for frame in report.frames:
        mask = np.zeros((info.height, info.width), bool)
        for box in frame.boxes:
            mask |= box_mask(box, mask.shape)
        total += mask.mean()
    return total / max(1, len(report.frames))


def test_static_detector_finds_text_on_moving_footage(pan_text, tmp_path: Path) -> None:
    _, marked, truth = pan_text
    report = WatermarkRemovalService().clean(marked, tmp_path / "out.mp4", ProcessOptions(detector="static"))
    ious = [max((iou(tuple(b), truth) for b in f.boxes), default=0.0) for f in report.frames]
    assert np.mean(np.array(ious) >= 0.7) >= 0.9, f"median IoU {np.median(ious):.2f}"
    assert report.detector == "static" and report.frames_processed == probe(marked).frames


def test_static_detector_finds_opaque_logo_on_moving_footage(pan_logo, tmp_path: Path) -> None:
    path, truth = pan_logo
    report = WatermarkRemovalService().clean(path, tmp_path / "out.mp4", ProcessOptions(detector="static"))
    ious = [max((iou(tuple(b), truth) for b in f.boxes), default=0.0) for f in report.frames]
    assert np.mean(np.array(ious) >= 0.7) >= 0.9, f"median IoU {np.median(ious):.2f}"


def test_no_mask_on_clean_moving_footage(pan_clean: Path, tmp_path: Path) -> None:
    report = WatermarkRemovalService().clean(pan_clean, tmp_path / "out.mp4", ProcessOptions(detector="static"))
    assert masked_fraction(report) < 0.005


def test_fixed_camera_background_is_never_masked(vtest_clip: Path, tmp_path: Path) -> None:
    """vtest.avi's buildings never move: the detector must say it cannot tell, not mask them."""
    report = WatermarkRemovalService().clean(vtest_clip, tmp_path / "out.mp4", ProcessOptions(detector="static"))
    assert masked_fraction(report) < 0.005
    assert any("fixed camera" in note for note in report.notes)


def test_fixed_camera_with_overlay_says_it_cannot_tell(tmp_path: Path) -> None:
    """tree.avi barely moves: an overlay there cannot be told from the tree; say so, mask nothing else."""
    mark = text_rgba("stock", 20)
    clip = tmp_path / "tree_text.mp4"
    write_clip((composite(f, mark, 100, 100, 0.5) for f in clip_frames("tree.avi", 150)), clip, 15, audio=False)
    report = WatermarkRemovalService().clean(clip, tmp_path / "out.mp4", ProcessOptions(detector="static"))
    truth = mark_box(mark, 100, 100)
    stray = [b for f in report.frames for b in f.boxes if iou(tuple(b), truth) < 0.3]
    assert not stray
    assert any("fixed camera" in note for note in report.notes)


def test_inpainting_raises_psnr_inside_the_mark(pan_text, tmp_path: Path) -> None:
    clean, marked, truth = pan_text
    out = tmp_path / "out.mp4"
    WatermarkRemovalService().clean(marked, out, ProcessOptions(detector="static"))
    x1, y1, x2, y2 = truth
    gains = []
    for c, m, o in zip(read_frames(probe(clean)), read_frames(probe(marked)), read_frames(probe(out)), strict=True):
        region = (slice(y1, y2), slice(x1, x2))
        gains.append(psnr(o[region], c[region]) - psnr(m[region], c[region]))
    assert np.mean(gains) > 1.0, f"mean PSNR gain {np.mean(gains):.2f} dB"


def test_regions_skip_detection_and_cover_every_frame(pan_clean: Path, tmp_path: Path) -> None:
    options = ProcessOptions(regions=[(10, 20, 100, 50)])
    report = WatermarkRemovalService().clean(pan_clean, tmp_path / "out.mp4", options)
    assert report.detector == "regions"
    assert all(f.boxes == [(10, 20, 110, 70)] for f in report.frames)
    assert len(report.frames) == report.input.frames


def test_cli_writes_video_and_report(tmp_path: Path, pan_logo) -> None:
    path, _ = pan_logo
    out, rep = tmp_path / "clean.mp4", tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "app", str(path), "-o", str(out), "--report", str(rep), "-q"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(rep.read_text())
    assert report["output"]["frames"] == report["input"]["frames"] == len(report["frames"])
    assert report["frames"][0]["index"] == 0 and isinstance(report["frames"][0]["boxes"], list)
    assert {"decode", "detect", "track", "inpaint", "encode", "total"} <= set(report["timings"])
    assert report["encoder"] == "libx264" and any("h264_nvenc" in f for f in report["fallbacks"])
    assert report["output"]["has_audio"]


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--region", "1,2,3"], "region must be X,Y,W,H"), (["--detector", "yolo"], "YOLO_MODEL")],
)
def test_cli_bad_options_fail_with_one_line(tmp_path: Path, pan_clean: Path, args: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "app", str(pan_clean), "-o", str(tmp_path / "o.mp4"), "-q", *args],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0 and message in done.stderr
    assert not (tmp_path / "o.mp4").exists()


def test_cli_bad_input_fails_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    done = subprocess.run([sys.executable, "-m", "app", str(bad), "-o", str(tmp_path / "o.mp4"), "-q"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and done.stderr.startswith("error: not a readable video")
