"""GPU profile: read the device at start-up and pick batch sizes and segment lengths from its VRAM.

Every value can be overridden by env (`Settings`) and per job (`ProcessOptions`), in that order.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from loguru import logger

from app.config import ProcessOptions, Settings
from app.errors import ConfigError

# (minimum total VRAM in GB, YOLO batch, inpaint batch, segment frames): the seed's tiers.
TIERS: list[tuple[float, int, int, int]] = [(24, 16, 24, 450), (16, 24, 12, 360), (10, 20, 10, 300), (8, 16, 8, 240), (0, 8, 4, 150)]
CPU_PLAN = (4, 4, 64)
CPU_DETECTION_STRIDE = 3
DRIVER_VERSION_FILE = Path("/proc/driver/nvidia/version")


@dataclass(frozen=True)
class GpuInfo:
    name: str
    total_gb: float
    free_gb: float


@dataclass(frozen=True)
class BatchPlan:
    """What one job runs with; `yolo_batch_per_scale` applies while multi-scale is on."""

    device: str
    gpu_name: str | None
    vram_gb: float | None
    yolo_batch: int
    inpaint_batch: int
    segment_frames: int
    multiscale: bool
    scales: tuple[float, ...]
    detection_stride: int

    @property
    def yolo_batch_per_scale(self) -> int:
        return max(4, self.yolo_batch // 4) if self.multiscale else self.yolo_batch

    def describe(self) -> dict:
        return {**asdict(self), "yolo_batch_per_scale": self.yolo_batch_per_scale}


def nvidia_driver_present() -> bool:
    """Cheap check before importing torch (a second of start-up): no NVIDIA driver, no CUDA."""
    return DRIVER_VERSION_FILE.exists() or Path("/dev/nvidiactl").exists()


def driver_version() -> str | None:
    """The kernel driver's version ("580.82.07"), read without CUDA: it says why CUDA may not start."""
    try:
        found = re.search(r"Kernel Module\s+(?:for \S+\s+)?(\d+\.\d+(?:\.\d+)?)", DRIVER_VERSION_FILE.read_text())
    except OSError:
        return None
    return found.group(1) if found else None


@dataclass(frozen=True)
class GpuProbe:
    """What start-up found: the GPU to use, or why an NVIDIA GPU that is there cannot be used."""

    gpu: GpuInfo | None
    problem: str | None = None


@lru_cache(maxsize=1)
def detect_gpu() -> GpuProbe:
    """The first CUDA device's name and VRAM, read once per process.

    A driver too old for the CUDA that torch was built for makes `torch.cuda.is_available()` quietly
    False; the worker would then crawl on the CPU of a GPU host. That case is logged as a WARNING
    with the driver and CUDA versions, and carried into every job's `fallbacks`.
    """
    if not nvidia_driver_present():
        return GpuProbe(None)
    try:
        import torch
    except ImportError:
        return GpuProbe(None, "an NVIDIA driver is present but PyTorch is not installed; running on CPU")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        available = torch.cuda.is_available()
    if not available:
        said = "; ".join(" ".join(str(w.message).split()).split(". ")[0] for w in caught)
        problem = (f"NVIDIA driver {driver_version() or '(version unknown)'} is present but PyTorch "
                   f"{torch.__version__} (built for CUDA {torch.version.cuda}) cannot use it "
                   f"({said or 'torch.cuda.is_available() is False'}); running on CPU, far slower. "
                   f"Run on hosts whose driver supports CUDA {torch.version.cuda}")
        logger.warning("{}", problem)
        return GpuProbe(None, problem)
    props = torch.cuda.get_device_properties(0)
    free, total = torch.cuda.mem_get_info(0)
    gpu = GpuInfo(name=props.name, total_gb=total / 1024**3, free_gb=free / 1024**3)
    logger.info("Detected GPU: {} with {:.1f} GB VRAM ({:.1f} GB free)", gpu.name, gpu.total_gb, gpu.free_gb)
    return GpuProbe(gpu)


def tier_for(total_gb: float) -> tuple[int, int, int]:
    """(YOLO batch, inpaint batch, segment frames) for a GPU with `total_gb` of VRAM."""
    for minimum, yolo, inpaint, segment in TIERS:
        if total_gb >= minimum:
            return yolo, inpaint, segment
    raise AssertionError("the last tier has no minimum")


def make_plan(gpu: GpuInfo | None, settings: Settings, options: ProcessOptions) -> BatchPlan:
    """The plan for one job: tier defaults, then env settings, then the job's own options."""
    wanted = options.device or settings.device
    if wanted == "cuda" and gpu is None:
        raise ConfigError("device 'cuda' requested but no CUDA device is available")
    device = "cuda" if gpu is not None and wanted in ("auto", "cuda") else "cpu"
    yolo, inpaint, segment = tier_for(gpu.total_gb) if device == "cuda" else CPU_PLAN
    multiscale = settings.enable_multiscale_detection if options.multiscale is None else options.multiscale
    stride = 1 if device == "cuda" else CPU_DETECTION_STRIDE
    return BatchPlan(
        device=device,
        gpu_name=gpu.name if gpu else None,
        vram_gb=round(gpu.total_gb, 1) if gpu else None,
        yolo_batch=options.yolo_batch_size or settings.yolo_batch_size or yolo,
        inpaint_batch=options.inpaint_batch_size or settings.inpaint_batch_size or inpaint,
        segment_frames=options.segment_frames or settings.segment_frames or segment,
        multiscale=multiscale,
        scales=tuple(options.scales or settings.multiscale_scales) if multiscale else (1.0,),
        detection_stride=options.detection_stride or stride,
    )
