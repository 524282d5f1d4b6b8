"""Batched, multi-scale ultralytics YOLO detection that never dies of CUDA out-of-memory.

Frames go through the model in batches from the GPU plan at each scale (default 1.0, 0.8,
1.2), boxes are mapped back to source pixels and merged across scales with class-agnostic
NMS. On out-of-memory during multi-scale, the same frames are redone single-scale and
multi-scale stays off for the job; at single scale the batch is halved down to 1, then
detection moves to the CPU. No frame is skipped or counted twice: a segment's result is
returned only once it has run through completely.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch
from loguru import logger
from torchvision.ops import nms

from app.cuda import OomLadder, empty_cache, is_oom
from app.detection.types import Detection, Detector
from app.errors import ConfigError
from app.gpu import BatchPlan
from app.models import yolo_weights
from app.registry import BuildContext, Choice

# predict(frames RGB at the scale, imgsz, device, half) -> per frame an (N, 6) array x1, y1, x2, y2, conf, cls
Predictor = Callable[[list[np.ndarray], int, str, bool], list[np.ndarray]]
BASE_IMGSZ = 640
NMS_IOU = 0.5
MULTISCALE_OOM = "CUDA out of memory during multi-scale detection. Disabling multi-scale and retrying with single-scale detection."


@lru_cache(maxsize=2)
def load_yolo(path: Path):
    """The ultralytics model at `path`, loaded once per process."""
    from ultralytics import YOLO

    logger.info("Loading YOLO model {}", path)
    return YOLO(str(path))


def ultralytics_predictor(model) -> Predictor:
    """Wraps an ultralytics model as a `Predictor`."""

    def predict(frames: list[np.ndarray], imgsz: int, device: str, half: bool) -> list[np.ndarray]:
        bgr = [np.ascontiguousarray(f[:, :, ::-1]) for f in frames]
        results = model.predict(bgr, imgsz=imgsz, device=device, half=half, conf=0.01, verbose=False, batch=len(bgr))
        return [r.boxes.data.detach().cpu().numpy().reshape(-1, 6) for r in results]

    return predict


class YoloDetector(Detector):
    """Streaming detector over segments; `fallbacks` lists every fallback taken in this job."""

    name = "yolo"

    def __init__(self, predictor: Predictor, plan: BatchPlan, width: int, height: int, confidence: float,
                 max_bbox_percent: float) -> None:
        self.predict = predictor
        self.width, self.height = width, height
        self.confidence, self.max_area = confidence, max_bbox_percent / 100.0 * width * height
        self.ladder = OomLadder("detection", "YOLO", plan.yolo_batch, plan.device)
        self.multiscale = plan.multiscale and len(plan.scales) > 1
        self.scales = plan.scales if self.multiscale else (1.0,)
        self.multi_batch = plan.yolo_batch_per_scale
        self.stride = plan.detection_stride
        self.frames_seen = 0
        self.scale_fallbacks: list[str] = []
        super().__init__()
        logger.info("YOLO on {}: multi-scale {} (scales {}), batch {} per scale / {} single, stride {}",
                    self.device, "on" if self.multiscale else "off", list(self.scales), self.multi_batch, self.batch,
                    self.stride)

    @property
    def batch(self) -> int:
        return self.ladder.batch

    @property
    def device(self) -> str:
        return self.ladder.device

    @property
    def fallbacks(self) -> list[str]:
        return self.scale_fallbacks + self.ladder.fallbacks

    def detect(self, frames: list[np.ndarray]) -> list[list[Detection]]:
        """Boxes for each frame; frames between strides get none (tracking bridges them)."""
        picked = [i for i in range(len(frames)) if (self.frames_seen + i) % self.stride == 0]
        self.frames_seen += len(frames)
        found = self._segment([frames[i] for i in picked])
        out: list[list[Detection]] = [[] for _ in frames]
        for i, dets in zip(picked, found, strict=True):
            out[i] = dets
        return out

    def _segment(self, frames: list[np.ndarray]) -> list[list[Detection]]:
        if not frames:
            return []
        if self.multiscale:
            try:
                return self._run(frames, self.scales, self.multi_batch)
            except Exception as exc:
                if not is_oom(exc):
                    raise
                logger.warning(MULTISCALE_OOM)
                self.scale_fallbacks.append("detection: CUDA out of memory at multi-scale; single-scale for the rest of the job")
                self.multiscale, self.scales = False, (1.0,)
                empty_cache()
        return self.ladder.run(lambda batch, device: self._run(frames, (1.0,), batch))

    def _run(self, frames: list[np.ndarray], scales: tuple[float, ...], batch: int) -> list[list[Detection]]:
        per_frame: list[list[np.ndarray]] = [[] for _ in frames]
        half = self.device == "cuda"
        for scale in scales:
            empty_cache()
            imgsz = max(32, round(BASE_IMGSZ * scale / 32) * 32)
            for start in range(0, len(frames), batch):
                chunk = frames[start : start + batch]
                if scale != 1.0:
                    chunk = [cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) for f in chunk]
                for offset, boxes in enumerate(self.predict(chunk, imgsz, self.device, half)):
                    boxes = np.asarray(boxes, np.float32).reshape(-1, 6).copy()
                    boxes[:, :4] /= scale
                    per_frame[start + offset].append(boxes)
        return [self._merge(parts) for parts in per_frame]

    def _merge(self, parts: list[np.ndarray]) -> list[Detection]:
        """Class-agnostic NMS across scales, then confidence and size filters."""
        boxes = np.concatenate(parts) if parts else np.zeros((0, 6), np.float32)
        boxes = boxes[boxes[:, 4] >= self.confidence]
        if len(boxes) == 0:
            return []
        keep = nms(torch.from_numpy(boxes[:, :4]), torch.from_numpy(boxes[:, 4]), NMS_IOU).numpy()
        dets = []
        for x1, y1, x2, y2, conf, _ in boxes[keep]:
            box = (max(0, int(x1)), max(0, int(y1)), min(self.width, int(np.ceil(x2))), min(self.height, int(np.ceil(y2))))
            det = Detection(box=box, score=float(conf), source=self.name)
            if 0 < det.area <= self.max_area:
                dets.append(det)
        return dets


class UnionDetector(Detector):
    """`--detector both`: YOLO's and the static detector's boxes together."""

    name = "both"

    def __init__(self, *detectors) -> None:
        self.detectors = detectors

    @property
    def notes(self) -> list[str]:
        return [n for d in self.detectors for n in d.notes]

    @property
    def multiscale(self) -> bool:
        return any(d.multiscale for d in self.detectors)

    @property
    def fallbacks(self) -> list[str]:
        return [f for d in self.detectors for f in d.fallbacks]

    def detect(self, frames: list[np.ndarray]) -> list[list[Detection]]:
        results = [d.detect(frames) for d in self.detectors]
        return [[det for r in results for det in r[i]] for i in range(len(frames))]


def _yolo(ctx: BuildContext) -> tuple[YoloDetector, str]:
    weights = yolo_weights(ctx.settings)
    if weights is None:
        raise ConfigError(f"detector '{ctx.options.detector}' needs a YOLO model: set YOLO_MODEL or YOLO_MODEL_URL")
    detector = YoloDetector(ultralytics_predictor(load_yolo(weights)), ctx.plan, ctx.info.width, ctx.info.height,
                            ctx.settings.yolo_confidence, ctx.max_bbox_percent)
    return detector, weights.name


def build(ctx: BuildContext) -> Choice:
    """`yolo`: the configured YOLO model alone."""
    detector, name = _yolo(ctx)
    return Choice(detector, "yolo", f"YOLO model {name}")


def build_both(ctx: BuildContext) -> Choice:
    """`both`: YOLO's boxes and edge persistence's, united."""
    from app.detection.static import build as build_static

    detector, name = _yolo(ctx)
    return Choice(UnionDetector(detector, build_static(ctx).backend), "both",
                  f"YOLO ({name}) and the static detector, boxes united")
