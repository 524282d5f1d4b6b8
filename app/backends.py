"""Choosing the detector and inpainter for a job, and saying why."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.config import ProcessOptions, Settings
from app.detection.regions import RegionDetector
from app.detection.static import StaticDetector
from app.detection.types import Reading
from app.errors import ConfigError
from app.gpu import BatchPlan
from app.inpainting.opencv import OpenCVFiller
from app.inpainting.restorer import Restorer
from app.media.probe import VideoInfo
from app.models import resolve_weights


@dataclass
class Choice:
    backend: Any  # a `Detector`, or the `Restorer`
    name: str
    reason: str


def _baked(settings: Settings, name: str) -> Path | None:
    """Where the image bakes this weights file (`MODELS_DIR`), if a models dir is set."""
    return settings.models_dir / name if settings.models_dir else None


def yolo_weights(settings: Settings) -> Path | None:
    return resolve_weights(settings.yolo_model, settings.yolo_model_url, settings.model_cache_dir, "YOLO",
                           _baked(settings, "yolo.pt"))


SHIPPED_WATERMARK_MODEL = Path(__file__).resolve().parent.parent / "models" / "watermark-db.pt"
DEFAULT_WATERMARK_SCORE = 0.5


def watermark_weights(settings: Settings) -> Path | None:
    """The trained watermark detector: `WATERMARK_MODEL`, else the image's baked copy, else the repo's."""
    found = resolve_weights(settings.watermark_model, None, settings.model_cache_dir, "watermark detector",
                            _baked(settings, SHIPPED_WATERMARK_MODEL.name))
    return found or (SHIPPED_WATERMARK_MODEL if SHIPPED_WATERMARK_MODEL.is_file() else None)


def watermark_reading(weights: Path, settings: Settings) -> Reading:
    """How to read the watermark detector's map: at `WATERMARK_SCORE`, else at its model card's
    operating box score (chosen on the validation split), else 0.5."""
    card = weights.with_suffix(".json")
    score = settings.watermark_score or (json.loads(card.read_text())["validation"]["threshold"] if card.is_file()
                                         else DEFAULT_WATERMARK_SCORE)
    return Reading(probability=0.5, box_score=float(score), unclip=0.0)


def _general(settings: Settings, info: VideoInfo, plan: BatchPlan, max_pct: float) -> Choice:
    """`auto`: every proposal source there is (text, the trained watermark detector, a configured YOLO,
    edge persistence), with temporal evidence deciding what is a mark."""
    from app.detection.evidence import EvidenceDetector
    from app.detection.text import MapDetector, load_text_model, load_watermark_model, model_path, torch_predictor

    trained_weights = watermark_weights(settings)
    trained_predict = torch_predictor(load_watermark_model(trained_weights)) if trained_weights is not None else None
    reading = watermark_reading(trained_weights, settings) if trained_weights is not None else None
    if info.frames <= 1 and trained_predict is not None:
        still = MapDetector(trained_predict, plan.device, plan.yolo_batch, info.width, info.height, reading, "trained")
        return Choice(still, "trained", "still image: time cannot decide, the trained watermark detector alone")
    sources: dict = {"edges": lambda w, h: StaticDetector(w, h, settings.evidence_sample_fps,
                                                          settings.static_window_seconds, 100.0)}
    text = model_path()
    if text is not None:
        model = torch_predictor(load_text_model(text))
        sources["text"] = lambda w, h: MapDetector(model, plan.device, plan.yolo_batch, w, h)
    trained = set()
    if trained_predict is not None:
        sources["trained"] = lambda w, h: MapDetector(trained_predict, plan.device, plan.yolo_batch, w, h, reading,
                                                      "trained")
        trained.add("trained")
    yolo = yolo_weights(settings)
    if yolo is not None:
        from app.detection.yolo import YoloDetector, load_yolo, ultralytics_predictor

        predictor = ultralytics_predictor(load_yolo(yolo))
        analysis = replace(plan, detection_stride=1)
        sources["yolo"] = lambda w, h: YoloDetector(predictor, analysis, w, h, settings.yolo_confidence, 100.0)
        trained.add("yolo")
    detector = EvidenceDetector(sources, trained, info, settings.evidence_sample_fps, max_pct)
    return Choice(detector, "auto", "general stack: " + ", ".join(sources) + " proposals, temporal evidence decides")


def choose_detector(settings: Settings, options: ProcessOptions, info: VideoInfo, plan: BatchPlan) -> Choice:
    """`regions` when boxes are given; the general stack for `auto`; YOLO or the static detector when asked."""
    max_pct = options.max_bbox_percent or settings.max_bbox_percent
    if options.regions:
        return Choice(RegionDetector(options.regions, info.width, info.height), "regions", "regions given: detection skipped")
    if options.detector == "auto":
        return _general(settings, info, plan, max_pct)
    weights = yolo_weights(settings) if options.detector in ("yolo", "both") else None
    if options.detector in ("yolo", "both") and weights is None:
        raise ConfigError(f"detector '{options.detector}' needs a YOLO model: set YOLO_MODEL or YOLO_MODEL_URL")
    static = StaticDetector(info.width, info.height, info.fps, settings.static_window_seconds, max_pct)
    if weights is None:
        return Choice(static, "static", "static requested")
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


def load_configured_models(settings: Settings, device: str) -> None:
    """Load (into the process-wide caches) every model a job may use, so the first job waits for none;
    raises `ConfigError` naming a model that is configured but cannot be loaded."""
    from app.detection.text import load_text_model, load_watermark_model, model_path

    if (text := model_path()) is not None:
        load_text_model(text)
    if (trained := watermark_weights(settings)) is not None:
        load_watermark_model(trained)
    if (yolo := yolo_weights(settings)) is not None:
        from app.detection.yolo import load_yolo

        load_yolo(yolo)
    if (lama := lama_weights(settings)) is not None:
        from app.inpainting.lama import load_lama

        load_lama(lama, device)
