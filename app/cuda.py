"""CUDA fault handling shared by the detector and the inpainter."""

from __future__ import annotations

import torch


def is_oom(exc: BaseException) -> bool:
    """CUDA out-of-memory, as torch raises it or as a RuntimeError from a kernel."""
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def empty_cache() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
