"""Train the shipped watermark detector: ultralytics YOLO from its architecture yaml (no pretrained
weights exist here), on the synthetic dataset, resumable, then copy the weights and write the card.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from loguru import logger

from scripts.footage import ROOT

MODELS = ROOT / "models"
WEIGHTS = MODELS / "watermark-yolo.pt"
CARD = MODELS / "watermark-yolo.json"
CURVE = MODELS / "watermark-yolo-curve.png"


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the model; written into the card so anyone can rebuild it."""

    seed: int = 0
    train_images: int = 2000
    val_images: int = 300
    architecture: str = "yolo11n.yaml"
    imgsz: int = 480
    epochs: int = 10
    batch: int = 16
    small_assets: bool = False


def offline_ultralytics(home: Path) -> None:
    """ultralytics without the network: its settings under `home`, and the plotting font it would
    download (Arial.ttf) taken from DejaVu, which Debian ships."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(home))
    font_dir = Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics"
    font_dir.mkdir(parents=True, exist_ok=True)
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        if not (font_dir / name).exists():
            dejavu = next((ROOT / ".cache" / "debs" / "fonts-dejavu-core").rglob("DejaVuSans.ttf"))
            shutil.copy(dejavu, font_dir / name)


def train(recipe: Recipe, data: Path, runs: Path) -> Path:
    """Train (or resume the unfinished run under `runs`); returns the run's folder."""
    from ultralytics import YOLO

    run = runs / "watermark"
    last = run / "weights" / "last.pt"
    common = {"device": "cpu", "workers": 2, "verbose": False, "plots": True}
    if last.exists() and not (run / "finished").exists():
        logger.info("Resuming training from {}", last)
        YOLO(str(last)).train(resume=True, **common)
    else:
        shutil.rmtree(run, ignore_errors=True)
        model = YOLO(recipe.architecture)
        model.train(data=str(data), imgsz=recipe.imgsz, epochs=recipe.epochs, batch=recipe.batch, seed=recipe.seed,
                    deterministic=True, project=str(runs), name="watermark", exist_ok=True, patience=0,
                    close_mosaic=max(1, recipe.epochs // 6), fliplr=0.0, **common)
    (run / "finished").touch()
    return run


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def validate(weights: Path, data: Path, imgsz: int) -> dict:
    """mAP50 and precision/recall at the operating threshold on the held-out validation split."""
    from ultralytics import YOLO

    metrics = YOLO(str(weights)).val(data=str(data), imgsz=imgsz, device="cpu", verbose=False, plots=False,
                                     batch=8, workers=0)
    return {"mAP50": round(float(metrics.box.map50), 4), "mAP50_95": round(float(metrics.box.map), 4),
            "precision": round(float(metrics.box.mp), 4), "recall": round(float(metrics.box.mr), 4)}


def publish(run: Path, recipe: Recipe, data: Path, seconds: float, out: Path = MODELS) -> dict:
    """Copy the best weights into `models/` with their card (recipe, metrics, time, commit) and curve."""
    out.mkdir(parents=True, exist_ok=True)
    weights = out / WEIGHTS.name
    shutil.copy(run / "weights" / "best.pt", weights)
    if (run / "results.png").exists():
        shutil.copy(run / "results.png", out / CURVE.name)
    card = {
        "model": weights.name, "task": "detect", "classes": ["watermark"], "recipe": asdict(recipe),
        "train_seconds": round(seconds), "cpu_threads": os.cpu_count(), "commit": _commit(),
        "validation": validate(weights, data, recipe.imgsz),
        "size_bytes": weights.stat().st_size,
    }
    (out / CARD.name).write_text(json.dumps(card, indent=1) + "\n")
    logger.info("Model card: {}", card)
    return card


def elapsed_since(marker: Path) -> float:
    """Seconds of training, summed over sessions (a resumed run adds to what was spent before)."""
    return float(marker.read_text()) if marker.exists() else 0.0


def run_all(recipe: Recipe, work: Path, out: Path = MODELS) -> dict:
    """Data, training and publication: the one command `make train` runs."""
    from training import assets, dataset

    offline_ultralytics(work / "ultralytics")
    data = work / "data" / "data.yaml"
    stamp = work / "data" / "recipe.json"
    wanted = json.dumps({k: v for k, v in asdict(recipe).items() if k in ("seed", "train_images", "val_images",
                                                                         "small_assets")})
    if not data.exists() or not stamp.exists() or stamp.read_text() != wanted:
        shutil.rmtree(work / "data", ignore_errors=True)
        dataset.build(work / "data", recipe.train_images, recipe.val_images, recipe.seed,
                      assets.load(small=recipe.small_assets))
        stamp.write_text(wanted)
    spent_file = work / "train_seconds"
    started = time.perf_counter()
    run = train(recipe, data, work / "runs")
    spent = elapsed_since(spent_file) + time.perf_counter() - started
    spent_file.write_text(str(spent))
    return publish(run, recipe, data, spent, out)
