"""Text boxes from PP-OCRv4's text detector, the ONNX model that `rapidocr-onnxruntime` ships in its wheel.

The model is converted to a torch module with onnx2torch (its `Constant` nodes moved into initializers
first, which onnx2torch needs), so one code path runs batched on the CPU here and on the worker's
CUDA device, behind the same out-of-memory ladder as YOLO and LaMa. The output is DB's text
probability map; boxes are its connected regions, grown as PP-OCR's unclip grows them.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import torch
from loguru import logger

from app.cuda import OomLadder
from app.detection.types import Detection

PROBABILITY = 0.3  # DB's binarisation threshold (PP-OCR's default)
BOX_SCORE = 0.6  # mean probability inside a region for it to count as text
MIN_SIDE = 4  # px at model scale
UNCLIP = 1.6  # PP-OCR grows the shrunk text kernel by about this ratio of area / perimeter


def model_path() -> Path | None:
    """PP-OCRv4's detector inside the installed rapidocr wheel, or None when the package is absent."""
    try:
        path = resources.files("rapidocr_onnxruntime") / "models" / "ch_PP-OCRv4_det_infer.onnx"
    except ModuleNotFoundError:
        return None
    return Path(str(path)) if path.is_file() else None


@lru_cache(maxsize=1)
def load_text_model(path: Path) -> torch.nn.Module:
    """The ONNX detector as an eval-mode torch module on the CPU (moved per job by the ladder)."""
    import onnx
    from onnx import numpy_helper
    from onnx2torch import convert

    graph = onnx.load(str(path))
    nodes = []
    for node in graph.graph.node:
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            graph.graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(node.attribute[0].t), node.output[0]))
        else:
            nodes.append(node)
    del graph.graph.node[:]
    graph.graph.node.extend(nodes)
    logger.info("Loaded the PP-OCRv4 text detector from {}", path.name)
    return convert(graph).eval()


def _boxes(prob: np.ndarray, scale_x: float, scale_y: float, width: int, height: int) -> list[Detection]:
    binary = (prob > PROBABILITY).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=4)
    dets = []
    for label in range(1, count):
        x, y, w, h, area = stats[label]
        if min(w, h) < MIN_SIDE:
            continue
        score = float(prob[y : y + h, x : x + w][labels[y : y + h, x : x + w] == label].mean())
        if score < BOX_SCORE:
            continue
        grow = area * UNCLIP / (2 * (w + h))
        x1, y1 = max(0.0, (x - grow) * scale_x), max(0.0, (y - grow) * scale_y)
        x2, y2 = min(width, (x + w + grow) * scale_x), min(height, (y + h + grow) * scale_y)
        dets.append(Detection(box=(int(x1), int(y1), int(np.ceil(x2)), int(np.ceil(y2))), score=score, source="text"))
    return dets


class TextDetector:
    """Batched text detection on frames of one size; boxes in the frames' own pixels."""

    name = "text"

    def __init__(self, model: torch.nn.Module, device: str, batch: int, width: int, height: int,
                 long_side: int = 960) -> None:
        self.model = model
        self.width, self.height = width, height
        scale = min(1.0, long_side / max(width, height))
        self.input_w = max(32, round(width * scale / 32) * 32)
        self.input_h = max(32, round(height * scale / 32) * 32)
        self.ladder = OomLadder("detection", "text detector", batch, device)
        self.notes: list[str] = []

    @property
    def fallbacks(self) -> list[str]:
        return self.ladder.fallbacks

    def detect(self, frames: list[np.ndarray]) -> list[list[Detection]]:
        if not frames:
            return []
        return self.ladder.run(lambda batch, device: self._run(frames, batch, device))

    def _run(self, frames: list[np.ndarray], batch: int, device: str) -> list[list[Detection]]:
        model = self.model.to(device)
        out: list[list[Detection]] = []
        sx, sy = self.width / self.input_w, self.height / self.input_h
        for start in range(0, len(frames), batch):
            chunk = [cv2.resize(f, (self.input_w, self.input_h), interpolation=cv2.INTER_AREA) for f in frames[start : start + batch]]
            x = torch.from_numpy(np.stack(chunk)[..., ::-1].copy()).to(device)  # PP-OCR was trained on BGR
            x = x.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
            with torch.inference_mode():
                prob = model(x)[:, 0].float().cpu().numpy()
            out.extend(_boxes(p, sx, sy, self.width, self.height) for p in prob)
        return out
