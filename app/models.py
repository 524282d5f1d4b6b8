"""Model weights: a local path, or a URL downloaded once into the cache (atomically)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import requests
from loguru import logger

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
