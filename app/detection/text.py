"""Probability-map detectors: PP-OCRv4's text detector, and the watermark detector fine-tuned from it.

PP-OCRv4's detector is the ONNX model that `rapidocr-onnxruntime` ships in its wheel. It is converted
to a torch module with onnx2torch (its `Constant` nodes moved into initializers first, which
onnx2torch needs) when it runs on the worker's CUDA device, batched behind the same out-of-memory
ladder as YOLO and LaMa; on the CPU the ONNX graph itself runs in ONNX Runtime (`CpuRunner`), without
importing torch (two seconds of every CLI run). The output is a probability map; boxes are
its connected regions (for text, grown as PP-OCR's unclip grows its shrunk text kernels). The
watermark detector (`training/finetune.py`) is the same network with fine-tuned weights, stored as
a state dict over this module and, exported by training, as ONNX beside it.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import io
import json
import os
import warnings
from collections.abc import Callable
from functools import cached_property, lru_cache
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
FIRST_CONV = "p2o/Conv/0"  # PP-OCRv4 det's only reader of its input
WINDOWED = "frame+window"  # a model card's `input` for a network that reads a window's statistics
WINDOW_CHANNELS = 4  # a window's statistics beside the frame: mean colour (3) and brightness deviation (1)
STD_SCALE = 32.0  # grey levels of deviation per unit of input


def window_stats(frames: np.ndarray) -> np.ndarray:
    """(H, W, 4) float32 over uint8 `frames` (N, H, W, 3): the mean colour (channel order kept) and the standard
    deviation of brightness (the channels' mean), in grey levels. What a mark leaves in a window of samples
    a second apart: its pixels stay while the picture changes, so the mean keeps it sharp and the
    deviation is low there."""
    colour = np.zeros(frames.shape[1:3] + (3,), np.float32)
    grey = np.empty(frames.shape[:3], np.float32)
    for frame, level in zip(frames, grey, strict=True):  # OpenCV's per-frame sums: a quarter of numpy's time
        cv2.accumulate(frame, colour)
        r, g, b = cv2.split(frame)
        level[...] = cv2.add(cv2.add(r, g, dtype=cv2.CV_16U), b, dtype=cv2.CV_16U)
    grey /= 3
    out = np.empty(frames.shape[1:3] + (4,), np.float32)
    out[..., :3] = colour / len(frames)
    out[..., 3] = grey.std(axis=0)
    return out


def network_input(frames: np.ndarray, stats: np.ndarray | None) -> np.ndarray:
    """RGB uint8 frames (N, H, W, 3) as the networks' input (N, C, H, W) float32: BGR scaled to -1..1, as
    PP-OCR was trained; with `stats` (window_stats of RGB frames, (H, W, 4) for all or (N, H, W, 4) each)
    four more channels: the mean in BGR scaled alike and the deviation over STD_SCALE, less 1."""
    n, h, w = frames.shape[:3]
    x = np.empty((n, 3 if stats is None else 3 + WINDOW_CHANNELS, h, w), np.float32)
    x[:, :3] = frames[..., ::-1].transpose(0, 3, 1, 2)
    x[:, :3] /= 127.5
    x[:, :3] -= 1.0
    if stats is not None:
        extra = np.moveaxis(stats, -1, -3)  # (..., 4, H, W)
        x[:, 3:6] = extra[..., 2::-1, :, :]
        x[:, 3:6] /= 127.5
        x[:, 3:6] -= 1.0
        x[:, 6] = extra[..., 3, :, :]
        x[:, 6] /= STD_SCALE
        x[:, 6] -= 1.0
    return x


def widened(model: torch.nn.Module) -> torch.nn.Module:
    """`model`, changed in place, reading the window's statistics too: its first convolution gets zero
    weights for the new channels, so it starts out as the frame-only network (up to float rounding)."""
    import torch

    conv = model._modules[FIRST_CONV]
    wide = torch.nn.Conv2d(conv.in_channels + WINDOW_CHANNELS, conv.out_channels, conv.kernel_size, conv.stride,
                           conv.padding, conv.dilation, conv.groups, conv.bias is not None)
    with torch.no_grad():
        wide.weight.zero_()
        wide.weight[:, : conv.in_channels] = conv.weight
        if conv.bias is not None:
            wide.bias.copy_(conv.bias)
    model._modules[FIRST_CONV] = wide
    return model


def input_channels(model: torch.nn.Module) -> int:
    return model._modules[FIRST_CONV].in_channels


def _reads_window(state: dict) -> bool:
    """Whether a state dict is a widened network's (its first convolution takes more than a frame)."""
    return state[f"{FIRST_CONV}.weight"].shape[1] > 3


def model_path() -> Path | None:
    """PP-OCRv4's detector inside the installed rapidocr wheel, or None when the package is absent.
    Found without importing the package, whose OCR pipeline (pyclipper, shapely, Pillow) this project
    never runs: `python -X importtime` put that import at 0.1 s of every CLI run's start."""
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "models" / "ch_PP-OCRv4_det_infer.onnx"
    return path if path.is_file() else None


@lru_cache(maxsize=2)
def load_watermark_model(weights: Path) -> torch.nn.Module:
    """The fine-tuned watermark detector: PP-OCRv4's network with the state dict at `weights`."""
    base = model_path()
    if base is None:
        raise ConfigError("the watermark detector needs rapidocr-onnxruntime installed (its network is PP-OCRv4's)")
    import torch

    model = copy.deepcopy(load_text_model(base))
    state = torch.load(weights, map_location="cpu", weights_only=True)
    if _reads_window(state):
        model = widened(model)
    model.load_state_dict(state)
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


# predict(frames RGB uint8 (N, H, W, 3), device, half, stats: window_stats (H, W, 4) for a network that
# reads a window, else None) -> probability maps (N, H, W)
Predict = Callable[[np.ndarray, str, bool, np.ndarray | None], np.ndarray]


class CpuRunner:
    """A network's ONNX graph on the CPU in ONNX Runtime, one input at a time.

    Why not OpenVINO, which ran these graphs twice as fast here (71-73 ms against 144-151 at 960x544 on
    one thread): with the two networks inferring side by side on two threads, a process hung for good
    in OpenVINO's Python bindings (a thread waiting on a C++ static's guard inside `Tensor.data`) in 3
    of some 70 runs on 2026-12-07 (README); a job that never ends costs more than the 7 % of wall time
    OpenVINO saved."""

    def __init__(self, name: str, graph: bytes) -> None:
        self.name = name
        # The stack runs its two networks side by side: on 2 cores, one thread each. A second thread per
        # network bought 16 % of wall time for 70 % more CPU (PP-OCRv4 det at 960x544), CPU the encoder needs.
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = max(1, (os.cpu_count() or 2) // 2)
        self._session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        logger.info("Loaded {} into ONNX Runtime for the CPU", name)

    def warm(self, height: int = 544, width: int = 960) -> None:
        """Run the shape most videos give (16:9 read at 960 px) once, so that a worker's first job waits
        for no allocation of the session's buffers."""
        channels = int(self._session.get_inputs()[0].shape[1])
        self.run(np.zeros((1, channels, height, width), np.float32))

    def run(self, x: np.ndarray) -> np.ndarray:
        """The network's output for one input (1, C, H, W)."""
        return self._session.run(None, {self._input: x})[0]


class Network:
    """A PP-OCR-style network in the two forms it runs in: its ONNX graph on the CPU (`CpuRunner`), and a
    torch module for CUDA, each made on first use."""

    def __init__(self, name: str, graph: Callable[[], bytes], module: Callable[[], torch.nn.Module],
                 windowed: bool = False) -> None:
        """`windowed`: the network reads a window's statistics beside each frame (`network_input`)."""
        self.name, self._graph, self._module, self.windowed = name, graph, module, windowed

    @cached_property
    def cpu(self) -> CpuRunner:
        return CpuRunner(self.name, self._graph())

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
    weights, else one exported from the weights now. It reads a window's statistics when its card (one
    that describes these weights) says `"input": "frame+window"`, or, without such a card, when the
    weights' first convolution takes more than a frame's 3 channels."""
    card = _card_of(weights)
    if card is not None:
        windowed = card.get("input") == WINDOWED
    else:
        import torch

        windowed = _reads_window(torch.load(weights, map_location="cpu", weights_only=True))
    return Network(f"the watermark detector {weights.name}", lambda: _graph_for(weights, card),
                   lambda: load_watermark_model(weights), windowed)


def _card_of(weights: Path) -> dict | None:
    """The model card beside `weights` when it describes them (its sha256 matches), else None."""
    card = weights.with_suffix(".json")
    if not card.is_file():
        return None
    named = json.loads(card.read_text())
    return named if named.get("sha256") == hashlib.sha256(weights.read_bytes()).hexdigest() else None


def module_network(model: torch.nn.Module) -> Network:
    """A network being trained, in memory: exported on first CPU use."""
    return Network("the model in training", lambda: export_onnx(model), lambda: model, input_channels(model) > 3)


def exported_graph(weights: Path) -> bytes:
    """The ONNX graph of `weights`: the card's export when its hashes match the files, else exported now."""
    return _graph_for(weights, _card_of(weights))


def _graph_for(weights: Path, card: dict | None) -> bytes:
    """`exported_graph` with the card already checked against the weights (`_card_of`), so a network
    that read its card at start-up does not hash its weights again."""
    graph = weights.with_suffix(".onnx")
    if card is not None and graph.is_file():
        data = graph.read_bytes()
        if card.get("onnx_sha256") == hashlib.sha256(data).hexdigest():
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
        torch.onnx.export(copy.deepcopy(model).cpu().eval(), torch.zeros(1, input_channels(model), 64, 64), graph,
                          input_names=["x"], output_names=["map"], opset_version=17,
                          dynamic_axes={"x": axes, "map": axes}, dynamo=False)
    return graph.getvalue()


def map_predictor(network: Network) -> Predict:
    """A PP-OCR-style network as a `Predict` (input as `network_input` makes it, as it was trained). On
    CUDA the torch module runs (it shares torch's CUDA with the rest of the worker); on the CPU the ONNX
    graph (`CpuRunner`), a frame at a time (no faster in a batch there, and each compiled shape's
    memory holds one frame)."""

    def predict(frames: np.ndarray, device: str, half: bool, stats: np.ndarray | None = None) -> np.ndarray:
        x = network_input(frames, stats)
        if device == "cpu":
            return np.concatenate([network.cpu.run(x[i : i + 1])[:, 0] for i in range(len(x))])
        import torch

        net = network.module.to(device)
        with torch.inference_mode(), torch.autocast("cuda") if half else contextlib.nullcontext():
            return net(torch.from_numpy(x).to(device))[:, 0].float().cpu().numpy()

    return predict


class MapDetector(Detector):
    """Batched detection on frames of one size; boxes in the frames' own pixels. On CUDA out-of-memory
    the batch is halved, then the CPU takes over (the shared ladder); fp16 autocast on CUDA."""

    def __init__(self, predict: Predict, device: str, batch: int, width: int, height: int,
                 reading: Reading = TEXT, name: str = "text", long_side: int = 960, windowed: bool = False) -> None:
        """`windowed`: `predict` reads the statistics of the window of frames each `detect` call is given."""
        self.predict, self.reading, self.name, self.windowed = predict, reading, name, windowed
        self.width, self.height = width, height
        scale = min(1.0, long_side / max(width, height))
        self.input_w = max(32, round(width * scale / 32) * 32)
        self.input_h = max(32, round(height * scale / 32) * 32)
        self.ladder = OomLadder("detection", f"{name} detector", batch, device)
        super().__init__()

    @property
    def fallbacks(self) -> list[str]:
        return self.ladder.fallbacks

    def detect(self, frames: list[np.ndarray], stats: np.ndarray | None = None) -> list[list[Detection]]:
        """Boxes per frame; a windowed network reads `stats` (`window_stats` at the frames' size), by
        default those of `frames` themselves: the window is the whole call, however the batch is split."""
        if not frames:
            return []
        size = (self.input_w, self.input_h)
        inputs = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])
        if not self.windowed:
            stats = None
        elif stats is None:
            stats = window_stats(inputs)
        else:
            stats = cv2.resize(stats, size, interpolation=cv2.INTER_AREA)
        return self.ladder.run(lambda batch, device: self._run(inputs, stats, batch, device))

    def _run(self, inputs: np.ndarray, stats: np.ndarray | None, batch: int, device: str) -> list[list[Detection]]:
        out: list[list[Detection]] = []
        sx, sy = self.width / self.input_w, self.height / self.input_h
        for start in range(0, len(inputs), batch):
            chunk = inputs[start : start + batch]
            prob = self.predict(chunk, device, device == "cuda", stats)
            out.extend(_boxes(p, self.reading, sx, sy, self.width, self.height, self.name) for p in prob)
        return out
