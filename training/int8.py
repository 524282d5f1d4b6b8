"""`python -m training.int8 [WEIGHTS]`: would an int8 watermark network keep its accuracy? Post-training
static quantization (ONNX Runtime, QDQ, per-channel int8 weights, uint8 activations) of the network's
ONNX export in a few variants, each calibrated on training pictures, then timed on one thread at
960x544 and validated on the held-out split like the card. Not used by the worker: it records why the
CPU path stays in float (README, Benchmarks). The percentile calibration holds every intermediate
output of every picture in memory: ~10 GB at peak."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import onnx
import onnxruntime
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from app.detection.text import Network, exported_graph, network_input, watermark_network
from training.evaluate import evaluate

if TYPE_CHECKING:
    import torch

CALIBRATION = 24  # training pictures (the percentile calibrator keeps every intermediate output of each)
LANDSCAPE = (640, 360)  # most of the dataset's frames
CALIBRATION_SIZE = (640, 352)  # those, rounded to multiples of 32 as `MapDetector` rounds them
TIMED = (960, 544)  # what `auto` reads a 720p or 1080p sample at


class _Pictures(CalibrationDataReader):
    """The calibration inputs, one picture a run, as ONNX Runtime's calibrator asks for them."""

    def __init__(self, inputs: list[np.ndarray]) -> None:
        self._items = iter([{"x": x} for x in inputs])

    def get_next(self) -> dict | None:
        return next(self._items, None)


def _variants(graph: onnx.ModelProto) -> dict[str, dict]:
    """The quantization settings tried, by name: the calibration methods, and the parts most likely to
    suffer (the DB head, the element-wise hard-swish arithmetic) left in float."""
    nodes = list(graph.graph.node)
    neck = max(k for k, node in enumerate(nodes) if node.op_type == "Concat")  # the head reads only its output
    head = [node.name for node in nodes[neck + 1:]]
    return {
        "minmax": {},
        "percentile": {"calibrate_method": CalibrationMethod.Percentile,
                       "extra_options": {"CalibTensorRangeSymmetric": False}},
        "moving average": {"extra_options": {"CalibMovingAverage": True}},
        "convolutions only": {"op_types_to_quantize": ["Conv", "ConvTranspose"]},
        "head in float": {"nodes_to_exclude": head},
    }


def _ms_per_frame(path: Path) -> float:
    """A frame's time at `TIMED` on one thread, as each of the analysis's two networks runs on 2 cores."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = network_input(np.random.default_rng(0).integers(0, 256, (4, TIMED[1], TIMED[0], 3), np.uint8), None)
    session.run(None, {"x": x[:1]})
    started = time.perf_counter()
    for i in range(len(x)):
        session.run(None, {"x": x[i : i + 1]})
    return round(1000 * (time.perf_counter() - started) / len(x), 1)


def _calibration(data: Path) -> list[np.ndarray]:
    """Training pictures as the network reads them at validation: the landscape frames at the size the
    detector reads them. One size for all: the percentile calibrator stacks each tensor's values across
    pictures."""
    inputs = []
    for path in sorted((data / "images" / "train").glob("*.jpg")):
        picture = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        if picture.shape[1::-1] == LANDSCAPE:
            inputs.append(network_input(cv2.resize(picture, CALIBRATION_SIZE, interpolation=cv2.INTER_AREA)[None], None))
        if len(inputs) == CALIBRATION:
            break
    return inputs


def _no_module() -> torch.nn.Module:
    raise RuntimeError("the int8 trial runs ONNX graphs on the CPU only")


def trial(weights: Path, data: Path) -> dict[str, dict]:
    """Per variant (and float32 for reference): ms per frame and the validation figures."""
    inputs = _calibration(data)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        plain, prepared = Path(tmp) / "float.onnx", Path(tmp) / "prepared.onnx"
        plain.write_bytes(exported_graph(weights))
        quant_pre_process(str(plain), str(prepared), skip_symbolic_shape=True)
        for name, options in {"float32": None, **_variants(onnx.load(prepared))}.items():
            path = plain
            if options is not None:
                path = Path(tmp) / f"{len(results)}.onnx"
                quantize_static(str(prepared), str(path), _Pictures(inputs), quant_format=QuantFormat.QDQ,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                                **options)
            network = Network(name, path.read_bytes, _no_module)
            figures = evaluate(network, data)
            results[name] = {"ms_per_frame": _ms_per_frame(path), "AP50": figures["AP50"],
                             "recall_at_precision_0.95": figures["recall"]}
    return results


def main(argv: list[str] | None = None) -> None:
    """Print the trial's figures as JSON."""
    parser = argparse.ArgumentParser(prog="python -m training.int8", description=__doc__)
    parser.add_argument("weights", type=Path, nargs="?", default=Path("models/watermark-db.pt"))
    parser.add_argument("--data", type=Path, default=Path(".cache/training/data"), help="a dataset `make train` built")
    args = parser.parse_args(argv)
    if watermark_network(args.weights.resolve()).windowed:
        parser.error(f"{args.weights} reads a window's statistics; the trial feeds frames only")
    print(json.dumps(trial(args.weights.resolve(), args.data), indent=1))


if __name__ == "__main__":
    main()
