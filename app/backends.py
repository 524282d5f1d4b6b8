"""Choosing the detector and inpainter for a job, and saying why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.config import ProcessOptions, Settings
from app.detection.regions import RegionDetector
from app.detection.static import StaticDetector
from app.errors import ConfigError
from app.inpainting.opencv import OpenCVInpainter
from app.media.probe import VideoInfo


@dataclass
class Choice:
    backend: Any
    name: str
    reason: str


def choose_detector(settings: Settings, options: ProcessOptions, info: VideoInfo) -> Choice:
    """`regions` when boxes are given; YOLO when a model is configured; else the static detector."""
    max_pct = options.max_bbox_percent or settings.max_bbox_percent
    if options.regions:
        return Choice(RegionDetector(options.regions, info.width, info.height), "regions", "regions given: detection skipped")
    if options.detector in ("yolo", "both"):
        raise ConfigError(f"detector '{options.detector}' needs a YOLO model: set YOLO_MODEL or YOLO_MODEL_URL")
    static = StaticDetector(info.width, info.height, info.fps, settings.static_window_seconds, max_pct)
    reason = "static requested" if options.detector == "static" else "no YOLO_MODEL configured: weights-free static detector"
    return Choice(static, "static", reason)


def choose_inpainter(settings: Settings, options: ProcessOptions) -> Choice:
    """LaMa when weights are configured; else OpenCV's Telea."""
    if options.inpainter == "lama":
        raise ConfigError("inpainter 'lama' needs weights: set LAMA_MODEL or LAMA_MODEL_URL")
    reason = "opencv requested" if options.inpainter == "opencv" else "no LAMA_MODEL configured: OpenCV Telea inpainting"
    backend = OpenCVInpainter(settings.inpaint_margin, settings.mask_dilate_kernel, settings.mask_dilate_iterations)
    return Choice(backend, "opencv", reason)
