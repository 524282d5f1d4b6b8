"""Probability-map detectors: PP-OCRv4's text detector, and the watermark detector fine-tuned from it.

PP-OCRv4's detector is the ONNX model that `rapidocr-onnxruntime` ships in its wheel. It is converted
to a torch module with onnx2torch (its `Constant` nodes moved into initializers first, which
onnx2torch needs) when it runs on the worker's CUDA device, batched behind the same out-of-memory
ladder as YOLO and LaMa; on the CPU the ONNX graph itself runs in ONNX Runtime (half torch's time,
and no torch import: two seconds of every CLI run). The output is a probability map; boxes are
its connected regions (for text, grown as PP-OCR's unclip grows its shrunk text kernels). The
watermark detector (`training/finetune.py`) is the same network with fine-tuned weights, stored as
a state dict over this module and, exported by training, as ONNX beside it.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import os
import warnings
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import onnxruntime
from loguru import logger

from app.cuda import OomLadder
from app.detection.types import Detection, Detector, Reading
from app.errors import ConfigError

if TYPE_CHECKING:
    import torch

MIN_SIDE = 4  # px at model scale


TEXT = Reading(probability=0.3, box_score=0.6, unclip=1.6)  # PP-OCR's defaults


def model_path() -> Path | None:
    """PP-OCRv4's detector inside the installed rapidocr wheel, or None when the package is absent."""
    try:
        path = resources.files("rapidocr_onnxruntime") / "models" / "ch_PP-OCRv4_det_infer.onnx"
    except ModuleNotFoundError:
        return None
    return Path(str(path)) if path.is_file() else None


@lru_cache(maxsize=2)
def load_watermark_model(weights: Path) -> torch.nn.Module:
    """The fine-tuned watermark detector: PP-OCRv4's network with the state dict at `weights`."""
    base = model_path()
    if base is None:
        raise ConfigError("the watermark detector needs rapidocr-onnxruntime installed (its network is PP-OCRv4's)")
    import torch

    model = copy.deepcopy(load_text_model(base))
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    logger.info("Loaded the watermark detector {}", weights.name)
    return model.eval()


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


def _boxes(prob: np.ndarray, reading: Reading, scale_x: float, scale_y: float, width: int, height: int,
           source: str) -> list[Detection]:
    binary = (prob > reading.probability).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=4)
    dets = []
    for label in range(1, count):
        x, y, w, h, area = stats[label]
        if min(w, h) < MIN_SIDE:
            continue
        score = float(prob[y : y + h, x : x + w][labels[y : y + h, x : x + w] == label].mean())
        if score < reading.box_score:
            continue
        grow = area * reading.unclip / (2 * (w + h))
        x1, y1 = max(0.0, (x - grow) * scale_x), max(0.0, (y - grow) * scale_y)
        x2, y2 = min(width, (x + w + grow) * scale_x), min(height, (y + h + grow) * scale_y)
        dets.append(Detection(box=(int(x1), int(y1), int(np.ceil(x2)), int(np.ceil(y2))), score=score, source=source))
    return dets


# predict(frames RGB uint8 (N, H, W, 3), device, half) -> probability maps (N, H, W)
Predict = Callable[[np.ndarray, str, bool], np.ndarray]


class Network:
    """A PP-OCR-style network in the two forms it runs in: its ONNX graph, run by ONNX Runtime on the CPU,
    and a torch module for CUDA, each made on first use."""

    def __init__(self, name: str, graph: Callable[[], bytes], module: Callable[[], torch.nn.Module]) -> None:
        self.name, self._graph, self._module = name, graph, module

    @cached_property
    def session(self) -> onnxruntime.InferenceSession:
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        # The stack runs its two networks side by side: on 2 cores, one thread each. A second thread per
        # session bought 16 % of wall time for 70 % more CPU (PP-OCRv4 det at 960x544), CPU the encoder needs.
        options.intra_op_num_threads = max(1, (os.cpu_count() or 2) // 2)
        session = onnxruntime.InferenceSession(self._graph(), options, providers=["CPUExecutionProvider"])
        logger.info("Loaded {} into ONNX Runtime for the CPU", self.name)
        return session

    @cached_property
    def module(self) -> torch.nn.Module:
        return self._module()


@lru_cache(maxsize=1)
def text_network(path: Path) -> Network:
    """PP-OCRv4's text detector from the wheel's ONNX file."""
    return Network(f"the PP-OCRv4 text detector ({path.name})", path.read_bytes, lambda: load_text_model(path))


@lru_cache(maxsize=2)
def watermark_network(weights: Path) -> Network:
    """The fine-tuned detector: on the CPU the ONNX export its model card names (`onnx_sha256`) beside the
    weights, else one exported from the weights now."""
    return Network(f"the watermark detector {weights.name}", lambda: exported_graph(weights), lambda: load_watermark_model(weights))


def module_network(model: torch.nn.Module) -> Network:
    """A network being trained, in memory: exported on first CPU use."""
    return Network("the model in training", lambda: export_onnx(model), lambda: model)


def exported_graph(weights: Path) -> bytes:
    """The ONNX graph of `weights`: the card's export when its hashes match the files, else exported now."""
    card, graph = weights.with_suffix(".json"), weights.with_suffix(".onnx")
    if card.is_file() and graph.is_file():
        named = json.loads(card.read_text())
        data = graph.read_bytes()
        if named.get("onnx_sha256") == hashlib.sha256(data).hexdigest() and \
                named.get("sha256") == hashlib.sha256(weights.read_bytes()).hexdigest():
            return data
    logger.info("No matching ONNX export beside {}: exporting it from the weights", weights.name)
    return export_onnx(load_watermark_model(weights))


def export_onnx(model: torch.nn.Module) -> bytes:
    """`model` as an ONNX graph taking any batch and size (input `x`, output `map`)."""
    import torch

    graph = io.BytesIO()
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's warnings about onnx2torch's shape arithmetic
        torch.onnx.export(copy.deepcopy(model).cpu().eval(), torch.zeros(1, 3, 64, 64), graph, input_names=["x"],
                          output_names=["map"], opset_version=17, dynamic_axes={"x": axes, "map": axes}, dynamo=False)
    return graph.getvalue()


def map_predictor(network: Network) -> Predict:
    """A PP-OCR-style network as a `Predict`: BGR input scaled to -1..1, as it was trained. On CUDA the
    torch module runs (it shares torch's CUDA with the rest of the worker); on the CPU the ONNX graph
    in ONNX Runtime, a frame at a time (no faster in a batch there, and its memory arena stays one
    frame's size)."""

    def predict(frames: np.ndarray, device: str, half: bool) -> np.ndarray:
        if device == "cpu":
            x = np.ascontiguousarray(frames[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32)
            x /= 127.5
            x -= 1.0
            session = network.session
            feed = session.get_inputs()[0].name
            return np.concatenate([session.run(None, {feed: x[i : i + 1]})[0][:, 0] for i in range(len(x))])
        import torch

        net = network.module.to(device)
        x = torch.from_numpy(frames[..., ::-1].copy()).to(device).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
        with torch.inference_mode(), torch.autocast("cuda") if half else contextlib.nullcontext():
            return net(x)[:, 0].float().cpu().numpy()

    return predict


class MapDetector(Detector):
    """Batched detection on frames of one size; boxes in the frames' own pixels. On CUDA out-of-memory
    the batch is halved, then the CPU takes over (the shared ladder); fp16 autocast on CUDA."""

    def __init__(self, predict: Predict, device: str, batch: int, width: int, height: int,
                 reading: Reading = TEXT, name: str = "text", long_side: int = 960) -> None:
        self.predict, self.reading, self.name = predict, reading, name
        self.width, self.height = width, height
        scale = min(1.0, long_side / max(width, height))
        self.input_w = max(32, round(width * scale / 32) * 32)
        self.input_h = max(32, round(height * scale / 32) * 32)
        self.ladder = OomLadder("detection", f"{name} detector", batch, device)
        super().__init__()

    @property
    def fallbacks(self) -> list[str]:
        return self.ladder.fallbacks

    def detect(self, frames: list[np.ndarray]) -> list[list[Detection]]:
        if not frames:
            return []
        return self.ladder.run(lambda batch, device: self._run(frames, batch, device))

    def _run(self, frames: list[np.ndarray], batch: int, device: str) -> list[list[Detection]]:
        out: list[list[Detection]] = []
        sx, sy = self.width / self.input_w, self.height / self.input_h
        for start in range(0, len(frames), batch):
            chunk = np.stack([cv2.resize(f, (self.input_w, self.input_h), interpolation=cv2.INTER_AREA)
                              for f in frames[start : start + batch]])
            prob = self.predict(chunk, device, device == "cuda")
            out.extend(_boxes(p, self.reading, sx, sy, self.width, self.height, self.name) for p in prob)
        return out
