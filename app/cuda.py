"""CUDA fault handling shared by the detector and the inpainter."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from loguru import logger

T = TypeVar("T")


def is_oom(exc: BaseException) -> bool:
    """CUDA out-of-memory, as torch raises it or as a RuntimeError from a kernel. torch is looked up, not
    imported: a process that never imported it (the CPU path) cannot have raised its error."""
    torch = sys.modules.get("torch")
    return (torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError)) or \
        (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def empty_cache() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


class OomLadder:
    """The one way this worker retreats from CUDA out-of-memory: halve the batch down to 1, then the CPU.

    `run(attempt)` calls `attempt(batch, device)` until it returns; the attempt must redo its whole
    unit of work, so no frame is lost or done twice. Other errors pass through untouched.
    """

    def __init__(self, stage: str, model: str, batch: int, device: str, to_cpu: Callable[[], None] | None = None) -> None:
        self.stage, self.model, self.batch, self.device = stage, model, batch, device
        self.to_cpu = to_cpu
        self.fallbacks: list[str] = []

    def run(self, attempt: Callable[[int, str], T]) -> T:
        while True:
            try:
                return attempt(self.batch, self.device)
            except Exception as exc:
                if not is_oom(exc):
                    raise
                empty_cache()
                if self.batch > 1:
                    self.batch //= 2
                    message = f"{self.stage}: CUDA out of memory; {self.model} batch halved to {self.batch}"
                elif self.device != "cpu":
                    self.device = "cpu"
                    if self.to_cpu is not None:
                        self.to_cpu()
                    message = f"{self.stage}: CUDA out of memory at batch 1; {self.model} moved to CPU"
                else:
                    raise
                logger.warning(message)
                self.fallbacks.append(message)
