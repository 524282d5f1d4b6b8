"""Batch plans from injected GPU profiles (no GPU here), and the env / per-job overrides."""

from __future__ import annotations

import pytest

from app.config import ProcessOptions, Settings
from app.errors import ConfigError
from app.gpu import GpuInfo, make_plan


@pytest.mark.parametrize(
    ("vram", "yolo", "inpaint", "segment"),
    [(80.0, 16, 24, 450), (24.0, 16, 24, 450), (16.0, 24, 12, 360), (12.0, 20, 10, 300), (8.0, 16, 8, 240), (6.0, 8, 4, 150)],
)
def test_tiers_by_total_vram(vram: float, yolo: int, inpaint: int, segment: int) -> None:
    plan = make_plan(GpuInfo("Injected GPU", vram, vram), Settings(), ProcessOptions())
    assert (plan.device, plan.yolo_batch, plan.inpaint_batch, plan.segment_frames) == ("cuda", yolo, inpaint, segment)
    assert plan.multiscale and plan.scales == (1.0, 0.8, 1.2)
    assert plan.yolo_batch_per_scale == max(4, yolo // 4)
    assert plan.detection_stride == 1


def test_cpu_plan_without_gpu() -> None:
    plan = make_plan(None, Settings(), ProcessOptions())
    assert plan.device == "cpu" and plan.gpu_name is None and plan.detection_stride > 1


def test_env_overrides_tier_and_job_overrides_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOLO_BATCH_SIZE", "7")
    monkeypatch.setenv("SEGMENT_FRAMES", "99")
    monkeypatch.setenv("MULTISCALE_SCALES", "1.0,0.5")
    settings = Settings()
    gpu = GpuInfo("Injected GPU", 24.0, 20.0)
    plan = make_plan(gpu, settings, ProcessOptions())
    assert (plan.yolo_batch, plan.segment_frames, plan.scales) == (7, 99, (1.0, 0.5))
    plan = make_plan(gpu, settings, ProcessOptions(yolo_batch_size=3, segment_frames=40, multiscale=False))
    assert (plan.yolo_batch, plan.segment_frames, plan.multiscale, plan.scales) == (3, 40, False, (1.0,))
    assert plan.yolo_batch_per_scale == 3


def test_multiscale_can_be_disabled_by_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENABLE_MULTISCALE_DETECTION", "false")
    plan = make_plan(GpuInfo("Injected GPU", 24.0, 20.0), Settings(), ProcessOptions())
    assert not plan.multiscale and plan.yolo_batch_per_scale == 16


def test_cuda_requested_without_gpu_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="no CUDA device"):
        make_plan(None, Settings(), ProcessOptions(device="cuda"))
    assert make_plan(GpuInfo("g", 8.0, 8.0), Settings(), ProcessOptions(device="cpu")).device == "cpu"
