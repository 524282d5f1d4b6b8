"""YOLO detection: the real ultralytics path with an untrained model, coordinate mapping, NMS merge,
and the CUDA out-of-memory fallbacks with the fault injected from the predictor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from app.config import ProcessOptions, Settings
from app.detection.yolo import MULTISCALE_OOM, YoloDetector
from app.gpu import BatchPlan, GpuInfo, make_plan
from app.service import WatermarkRemovalService
from scripts.footage import pan_frames, write_clip

W, H = 640, 360
TRUE_BOX = np.array([100.0, 50.0, 300.0, 120.0])


def plan(multiscale: bool = True, batch: int = 8, device: str = "cuda", stride: int = 1) -> BatchPlan:
    return BatchPlan(device=device, gpu_name="Injected GPU", vram_gb=8.0, yolo_batch=batch, inpaint_batch=4,
                     segment_frames=32, multiscale=multiscale, scales=(1.0, 0.8, 1.2) if multiscale else (1.0,),
                     detection_stride=stride)


class ScriptedPredictor:
    """Returns the true box as the model would see it at each scale (plus per-scale jitter), and
    raises CUDA OOM on the calls listed in `oom_on` (call number, 0-based)."""

    def __init__(self, oom_on: set[int] | None = None, oom_when=None) -> None:
        self.calls: list[tuple[int, int, str, tuple[int, int]]] = []
        self.oom_on = oom_on or set()
        self.oom_when = oom_when

    def __call__(self, frames: list[np.ndarray], imgsz: int, device: str, half: bool) -> list[np.ndarray]:
        call = len(self.calls)
        self.calls.append((len(frames), imgsz, device, frames[0].shape[:2]))
        if call in self.oom_on or (self.oom_when is not None and self.oom_when(len(frames), device)):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        scale = frames[0].shape[1] / W
        jitter = {640: 0.0, 512: 2.0, 768: -2.0}.get(imgsz, 0.0)
        row = np.array([[*(TRUE_BOX * scale + jitter), 0.9 - jitter / 100, 0.0]], np.float32)
        return [row.copy() for _ in frames]


def frames(n: int) -> list[np.ndarray]:
    return [np.zeros((H, W, 3), np.uint8) for _ in range(n)]


def test_multiscale_maps_boxes_back_and_merges_them() -> None:
    predictor = ScriptedPredictor()
    detector = YoloDetector(predictor, plan(), W, H, 0.25, 10.0)
    result = detector.detect(frames(10))
    assert sorted({(c[1], c[3]) for c in predictor.calls}) == [(512, (288, 512)), (640, (360, 640)), (768, (432, 768))]
    assert all(c[0] <= 4 for c in predictor.calls)  # per-scale batch max(4, 8 // 4)
    for dets in result:
        assert len(dets) == 1, "the three scales' boxes merge into one"
        assert np.abs(np.array(dets[0].box) - TRUE_BOX).max() <= 3


def test_oom_on_first_multiscale_call_equals_plain_single_scale_run() -> None:
    plain = YoloDetector(ScriptedPredictor(), plan(multiscale=False), W, H, 0.25, 10.0).detect(frames(12))
    predictor = ScriptedPredictor(oom_on={0})
    detector = YoloDetector(predictor, plan(), W, H, 0.25, 10.0)
    first = detector.detect(frames(12))
    assert [[d.box for d in f] for f in first] == [[d.box for d in f] for f in plain]
    assert not detector.multiscale
    assert any("multi-scale" in f for f in detector.fallbacks)
    calls = len(predictor.calls)
    detector.detect(frames(12))
    assert all(c[1] == 640 for c in predictor.calls[calls:]), "multi-scale stays off for the rest of the job"


def test_oom_at_single_scale_halves_the_batch_then_moves_to_cpu() -> None:
    predictor = ScriptedPredictor(oom_when=lambda n, device: device == "cuda")
    detector = YoloDetector(predictor, plan(multiscale=False, batch=8), W, H, 0.25, 10.0)
    result = detector.detect(frames(9))
    assert len(result) == 9 and all(len(f) == 1 for f in result), "no frame skipped or doubled"
    cuda_batches = [c[0] for c in predictor.calls if c[2] == "cuda"]
    assert cuda_batches == [8, 4, 2, 1]
    assert detector.device == "cpu" and detector.fallbacks[-1].endswith("moved to CPU")
    assert [c[0] for c in predictor.calls if c[2] == "cpu"] == [1] * 9


def test_other_errors_are_not_swallowed() -> None:
    def broken(frames, imgsz, device, half):
        raise ValueError("bad tensor")

    with pytest.raises(ValueError, match="bad tensor"):
        YoloDetector(broken, plan(), W, H, 0.25, 10.0).detect(frames(2))


def test_stride_detects_every_nth_frame_across_segments() -> None:
    predictor = ScriptedPredictor()
    detector = YoloDetector(predictor, plan(multiscale=False, stride=3), W, H, 0.25, 10.0)
    got = detector.detect(frames(5)) + detector.detect(frames(5))
    assert [bool(f) for f in got] == [i % 3 == 0 for i in range(10)]


def test_oversized_and_low_confidence_boxes_are_filtered() -> None:
    def predictor(frames, imgsz, device, half):
        rows = np.array([[0, 0, 640, 360, 0.9, 0], [10, 10, 50, 30, 0.1, 0], [10, 10, 60, 40, 0.8, 0]], np.float32)
        return [rows for _ in frames]

    dets = YoloDetector(predictor, plan(multiscale=False), W, H, 0.25, 10.0).detect(frames(1))[0]
    assert [d.box for d in dets] == [(10, 10, 60, 40)]


@pytest.fixture(scope="module")
def untrained_yolo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ultralytics import YOLO

    path = tmp_path_factory.mktemp("yolo") / "yolo11n-untrained.pt"
    YOLO("yolo11n.yaml").save(str(path))
    return path


def test_real_ultralytics_model_runs_batched_multiscale_end_to_end(untrained_yolo: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    clip = tmp_path / "clip.mp4"
    write_clip(pan_frames("home.jpg", (320, 192), 12, 12), clip, 12, audio=True)
    monkeypatch.setenv("YOLO_MODEL", str(untrained_yolo))
    service = WatermarkRemovalService(Settings(), probe_gpu=False)
    report = service.clean(clip, tmp_path / "out.mp4", ProcessOptions(detector="yolo", detection_stride=1))
    assert report.detector == "yolo" and untrained_yolo.name in report.detector_reason
    assert report.multiscale and report.frames_processed == 12 == report.output.frames
    assert report.batch_plan["yolo_batch_per_scale"] == 4


def test_both_unites_yolo_and_static(untrained_yolo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     pan_logo) -> None:
    path, truth = pan_logo
    monkeypatch.setenv("YOLO_MODEL", str(untrained_yolo))
    options = ProcessOptions(detector="both", multiscale=False, detection_stride=5)
    report = WatermarkRemovalService(Settings(), probe_gpu=False).clean(path, tmp_path / "out.mp4", options)
    assert report.detector == "both" and report.watermark_frames > 0.9 * report.frames_processed


def test_plan_from_an_injected_gpu_reaches_the_detector() -> None:
    p = make_plan(GpuInfo("Injected 12 GB", 12.0, 11.0), Settings(), ProcessOptions())
    detector = YoloDetector(ScriptedPredictor(), p, W, H, 0.25, 10.0)
    assert (detector.batch, detector.multi_batch, detector.device) == (20, 5, "cuda")
    assert MULTISCALE_OOM.startswith("CUDA out of memory during multi-scale detection.")


def test_weights_url_is_downloaded_once_into_the_cache(untrained_yolo: Path, tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    from app.models import resolve_weights

    hits: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            hits.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=untrained_yolo.parent))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/{untrained_yolo.name}"
        first = resolve_weights(None, url, tmp_path / "cache", "YOLO")
        second = resolve_weights(None, url, tmp_path / "cache", "YOLO")
        assert first == second and first.read_bytes() == untrained_yolo.read_bytes()
        assert len(hits) == 1 and not list((tmp_path / "cache").glob(".part-*"))
        from app.errors import ConfigError

        with pytest.raises(ConfigError, match="HTTP 404"):
            resolve_weights(None, url + ".missing", tmp_path / "cache", "YOLO")
    finally:
        server.shutdown()


def test_weights_baked_into_models_dir_are_found_and_configured_ones_win(untrained_yolo: Path, tmp_path: Path) -> None:
    from app.models import lama_weights, yolo_weights

    baked = tmp_path / "models"
    baked.mkdir()
    (baked / "yolo.pt").write_bytes(untrained_yolo.read_bytes())
    assert yolo_weights(Settings(models_dir=baked)) == baked / "yolo.pt"
    assert lama_weights(Settings(models_dir=baked)) is None, "no big-lama.pt baked: OpenCV is used"
    assert yolo_weights(Settings(models_dir=baked, yolo_model=untrained_yolo)) == untrained_yolo
