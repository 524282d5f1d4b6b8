"""Model weights: a local path, or a URL downloaded once into the cache (atomically), or the copy the
image bakes (`MODELS_DIR`); and which weights each backend reads."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import requests
from loguru import logger

from app.config import Settings
from app.detection.types import Reading
from app.errors import ConfigError

DOWNLOAD_TIMEOUT = (10, 60)


def resolve_weights(path: Path | None, url: str | None, cache_dir: Path, kind: str,
                    baked: Path | None = None) -> Path | None:
    """The weights file to load: the configured path, else the URL (cached), else `baked` when that
    file exists (weights built into the image); None when there are none."""
    if path is not None:
        if not Path(path).is_file():
            raise ConfigError(f"{kind} weights not found at {path}")
        return Path(path)
    if not url:
        return baked if baked is not None and baked.is_file() else None
    name = Path(urlparse(url).path).name or "weights.bin"
    target = cache_dir / f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{name}"
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    logger.info("Downloading {} weights into {}", kind, target)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out, requests.get(url, stream=True, timeout=DOWNLOAD_TIMEOUT) as response:
            if response.status_code != 200:
                raise ConfigError(f"{kind} weights download failed: HTTP {response.status_code}")
            for chunk in response.iter_content(1 << 20):
                out.write(chunk)
        os.replace(tmp, target)
    except requests.RequestException as exc:
        raise ConfigError(f"{kind} weights download failed: {type(exc).__name__}") from exc
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


SHIPPED_WATERMARK_MODEL = Path(__file__).resolve().parent.parent / "models" / "watermark-db.pt"
DEFAULT_WATERMARK_SCORE = 0.5


def _baked(settings: Settings, name: str) -> Path | None:
    """Where the image bakes this weights file (`MODELS_DIR`), if a models dir is set."""
    return settings.models_dir / name if settings.models_dir else None


def yolo_weights(settings: Settings) -> Path | None:
    return resolve_weights(settings.yolo_model, settings.yolo_model_url, settings.model_cache_dir, "YOLO",
                           _baked(settings, "yolo.pt"))


def lama_weights(settings: Settings) -> Path | None:
    return resolve_weights(settings.lama_model, settings.lama_model_url, settings.model_cache_dir, "LaMa",
                           _baked(settings, "big-lama.pt"))


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


def load_configured_models(settings: Settings, device: str) -> None:
    """Load (into the process-wide caches) every model a job may use, so the first job waits for none;
    raises `ConfigError` naming a model that is configured but cannot be loaded."""
    from app.detection.text import Network, model_path, text_network, watermark_network

    def load(network: Network) -> None:
        if device == "cpu":
            network.cpu.warm()
        else:
            _ = network.module

    if (text := model_path()) is not None:
        load(text_network(text))
    if (trained := watermark_weights(settings)) is not None:
        load(watermark_network(trained))
    if (yolo := yolo_weights(settings)) is not None:
        from app.detection.yolo import load_yolo

        load_yolo(yolo)
    if (lama := lama_weights(settings)) is not None:
        from app.inpainting.lama import load_lama

        load_lama(lama, device)
