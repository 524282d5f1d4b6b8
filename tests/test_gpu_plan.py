"""Batch plans from injected GPU profiles (no GPU here), the env / per-job overrides, and a GPU CUDA cannot use."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from loguru import logger

import app.gpu as gpu_module
from app.config import ProcessOptions, Settings
from app.errors import ConfigError
from app.gpu import GpuInfo, GpuProbe, make_plan
from app.service import WatermarkRemovalService


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


# What torch 2.x warns when the host driver is older than the CUDA it was built for.
TORCH_TOO_OLD = ("CUDA initialization: The NVIDIA driver on your system is too old (found version 12080). "
                 "Please update your GPU driver by downloading and installing a new version from the URL: "
                 "http://www.nvidia.com/Download/index.aspx")


@pytest.fixture
def driver_too_old(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A host whose NVIDIA driver (570, CUDA 12.8) is older than the CUDA torch was built for."""
    import torch

    version = tmp_path / "version"
    version.write_text("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.195.03  Release Build  "
                       "(dvs-builder@U16-I3-B03-4-3)  Thu Sep 18 20:52:25 UTC 2025\nGCC version:  gcc version 12.2.0\n")

    def is_available() -> bool:
        warnings.warn(TORCH_TOO_OLD, UserWarning, stacklevel=1)
        return False

    monkeypatch.setattr(gpu_module, "DRIVER_VERSION_FILE", version)
    monkeypatch.setattr(torch.cuda, "is_available", is_available)
    gpu_module.detect_gpu.cache_clear()
    yield version
    gpu_module.detect_gpu.cache_clear()


def test_no_driver_is_plain_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_module, "DRIVER_VERSION_FILE", tmp_path / "absent")
    monkeypatch.setattr(gpu_module.Path, "exists", lambda self: False)
    gpu_module.detect_gpu.cache_clear()
    try:
        assert gpu_module.detect_gpu() == GpuProbe(None, None)
    finally:
        gpu_module.detect_gpu.cache_clear()


def test_driver_too_old_for_torch_is_a_warning_and_a_reported_fallback(driver_too_old: Path, pan_clean: Path,
                                                                         tmp_path: Path) -> None:
    import torch

    warned: list[str] = []
    handle = logger.add(lambda m: warned.append(m.record["message"]), level="WARNING")
    try:
        found = gpu_module.detect_gpu()
        service = WatermarkRemovalService(Settings())
    finally:
        logger.remove(handle)
    assert found.gpu is None and found.problem is not None
    for fact in ("570.195.03", f"CUDA {torch.version.cuda}", "too old (found version 12080)", "running on CPU"):
        assert fact in found.problem
    assert "Please update" not in found.problem
    assert warned == [found.problem]
    report = service.clean(pan_clean, tmp_path / "out.mp4")
    assert report.device == "cpu" and report.frames_processed == report.input.frames
    assert report.fallbacks[0] == f"device: {found.problem}"
