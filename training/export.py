"""`python -m training.export WEIGHTS`: write the ONNX export the CPU runs (WEIGHTS with `.onnx`) beside
fine-tuned weights, and its hash into their model card, which is what makes the worker use it."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from app.detection.text import export_onnx, load_watermark_model


def export(weights: Path) -> Path:
    """The export beside `weights`, named in the card (which must describe these weights)."""
    card_path = weights.with_suffix(".json")
    card = json.loads(card_path.read_text())
    if card["sha256"] != hashlib.sha256(weights.read_bytes()).hexdigest():
        raise SystemExit(f"{card_path.name} describes other weights than {weights.name}")
    graph = export_onnx(load_watermark_model(weights))
    target = weights.with_suffix(".onnx")
    target.write_bytes(graph)
    card["onnx_sha256"] = hashlib.sha256(graph).hexdigest()
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.export", description=__doc__)
    parser.add_argument("weights", type=Path)
    print(export(parser.parse_args(argv).weights))


if __name__ == "__main__":
    main()
