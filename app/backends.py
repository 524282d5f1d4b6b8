"""Choosing the detector and inpainter for a job, and saying why."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.config import ProcessOptions, Settings
from app.detection.regions import RegionDetector
from app.detection.static import StaticDetector
from app.errors import ConfigError
from app.gpu import BatchPlan
from app.inpainting.opencv import OpenCVFiller
from app.inpainting.restorer import Restorer
from app.media.probe import VideoInfo
from app.models import resolve_weights


@dataclass
class Choice:
    backend: Any
    name: str
    reason: str


def _baked(settings: Settings, name: str) -> Path | None:
    """Where the image bakes this weights file (`MODELS_DIR`), if a models dir is set."""
    return settings.models_dir / name if settings.models_dir else None


def yolo_weights(settings: Settings) -> Path | None:
    return resolve_weights(settings.yolo_model, settings.yolo_model_url, settings.model_cache_dir, "YOLO",
                           _baked(settings, "yolo.pt"))


def choose_detector(settings: Settings, options: ProcessOptions, info: VideoInfo, plan: BatchPlan) -> Choice:
    """`regions` when boxes are given; YOLO when a model is configured (or `both`); else the static detector."""
    max_pct = options.max_bbox_percent or settings.max_bbox_percent
    if options.regions:
        return Choice(RegionDetector(options.regions, info.width, info.height), "regions", "regions given: detection skipped")
    weights = yolo_weights(settings) if options.detector in ("auto", "yolo", "both") else None
    if options.detector in ("yolo", "both") and weights is None:
        raise ConfigError(f"detector '{options.detector}' needs a YOLO model: set YOLO_MODEL or YOLO_MODEL_URL")
    static = StaticDetector(info.width, info.height, info.fps, settings.static_window_seconds, max_pct)
    if weights is None:
        reason = "static requested" if options.detector == "static" else "no YOLO_MODEL configured: weights-free static detector"
        return Choice(static, "static", reason)
    from app.detection.yolo import UnionDetector, YoloDetector, load_yolo, ultralytics_predictor

    yolo = YoloDetector(ultralytics_predictor(load_yolo(weights)), plan, info.width, info.height,
                        settings.yolo_confidence, max_pct)
    if options.detector == "both":
        return Choice(UnionDetector(yolo, static), "both", f"YOLO ({weights.name}) and the static detector, boxes united")
    return Choice(yolo, "yolo", f"YOLO model {weights.name}")


def lama_weights(settings: Settings) -> Path | None:
    return resolve_weights(settings.lama_model, settings.lama_model_url, settings.model_cache_dir, "LaMa",
                           _baked(settings, "big-lama.pt"))


def choose_inpainter(settings: Settings, options: ProcessOptions, info: VideoInfo, plan: BatchPlan) -> Choice:
    """LaMa when weights are configured; else OpenCV's Telea. Both behind blend inversion."""
    weights = lama_weights(settings) if options.inpainter in ("auto", "lama") else None
    if options.inpainter == "lama" and weights is None:
        raise ConfigError("inpainter 'lama' needs weights: set LAMA_MODEL or LAMA_MODEL_URL")
    if weights is None:
        filler = OpenCVFiller()
        reason = "opencv requested" if options.inpainter == "opencv" else "no LAMA_MODEL configured: OpenCV Telea inpainting"
    else:
        from app.inpainting.lama import LamaFiller, load_lama

        filler = LamaFiller(load_lama(weights, plan.device), plan.device, plan.inpaint_batch, settings.inpaint_max_side)
        reason = f"LaMa model {weights.name} on {plan.device}"
    restorer = Restorer(filler, info.width, info.height, settings.inpaint_margin, settings.mask_dilate_kernel,
                        settings.mask_dilate_iterations, unblend=options.unblend)
    return Choice(restorer, filler.name, reason + ("; semi-transparent marks are un-blended" if options.unblend else ""))
