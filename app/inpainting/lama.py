"""LaMa filler: the big-lama TorchScript model through `simple-lama-inpainting`, batched on crops.

`SimpleLama` loads the model (from `LAMA_MODEL`); we call its TorchScript module directly with
batched tensors, because the package's own `__call__` takes one image and returns it at the
padded size. Crops larger than `max_side` are scaled down for the model and the fill scaled
back; sides are padded to a multiple of 8. Out of memory halves the batch down to 1, then
moves the model to the CPU.
"""

from __future__ import annotations

import os
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch
from loguru import logger

from app.cuda import OomLadder
from app.errors import ConfigError
from app.models import lama_weights
from app.registry import BuildContext, Choice

MODULO = 8


@lru_cache(maxsize=2)
def load_lama(path: Path, device: str) -> torch.jit.ScriptModule:
    """The TorchScript model at `path` on `device`, loaded once per process via simple-lama-inpainting.

    SimpleLama takes its path only from the `LAMA_MODEL` env, so it is set for the call and restored.
    """
    from simple_lama_inpainting import SimpleLama

    logger.info("Loading LaMa model {} on {}", path, device)
    previous = os.environ.get("LAMA_MODEL")
    os.environ["LAMA_MODEL"] = str(path)
    try:
        return SimpleLama(torch.device(device)).model
    finally:
        if previous is None:
            del os.environ["LAMA_MODEL"]
        else:
            os.environ["LAMA_MODEL"] = previous


def _ceil(value: int, mod: int = MODULO) -> int:
    return -(-value // mod) * mod


class LamaFiller:
    """Fills crops with LaMa in batches of crops that share a size."""

    name = "lama"
    max_margin = 256

    def __init__(self, model: torch.jit.ScriptModule, device: str, batch: int, max_side: int) -> None:
        # The module is shared by every job (loaded once per process); a previous job's out-of-memory
        # fallback may have left it on the CPU, so each job puts it back on its own plan's device.
        self.model, self.max_side = model.to(device), max_side
        self.ladder = OomLadder("inpainting", "LaMa", batch, device, self._move_to_cpu)

    @property
    def device(self) -> str:
        return self.ladder.device

    @property
    def fallbacks(self) -> list[str]:
        return self.ladder.fallbacks

    def fill(self, crops: list[np.ndarray], masks: list[np.ndarray]) -> list[np.ndarray]:
        prepared = [self._prepare(c, m) for c, m in zip(crops, masks, strict=True)]
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for index, (image, _, _) in enumerate(prepared):
            groups[image.shape[:2]].append(index)
        filled: list[np.ndarray | None] = [None] * len(crops)
        for indices in groups.values():
            outputs = self._run([prepared[i][0] for i in indices], [prepared[i][1] for i in indices])
            for i, out in zip(indices, outputs, strict=True):
                h, w = prepared[i][2]
                out = out[:h, :w]
                if out.shape[:2] != crops[i].shape[:2]:
                    out = cv2.resize(out, (crops[i].shape[1], crops[i].shape[0]), interpolation=cv2.INTER_CUBIC)
                filled[i] = out
        return [f for f in filled if f is not None]

    def _prepare(self, crop: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """Scale to at most `max_side`, pad (symmetric, as LaMa expects) to a multiple of 8."""
        h, w = crop.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
        h, w = crop.shape[:2]
        pad = ((0, _ceil(h) - h), (0, _ceil(w) - w))
        return np.pad(crop, (*pad, (0, 0)), mode="symmetric"), np.pad(mask, pad, mode="symmetric"), (h, w)

    def _run(self, images: list[np.ndarray], masks: list[np.ndarray]) -> list[np.ndarray]:
        def attempt(batch: int, device: str) -> list[np.ndarray]:
            out: list[np.ndarray] = []
            for start in range(0, len(images), batch):
                out.extend(self._forward(images[start : start + batch], masks[start : start + batch]))
            return out

        return self.ladder.run(attempt)

    def _move_to_cpu(self) -> None:
        self.model = self.model.to("cpu")

    def _to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(self.device)

    def _forward(self, images: list[np.ndarray], masks: list[np.ndarray]) -> list[np.ndarray]:
        image = self._to_device(torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div(255.0))
        mask = self._to_device(torch.from_numpy((np.stack(masks) > 0).astype(np.float32))[:, None])
        with torch.inference_mode():
            result = self.model(image, mask)
        result = (result.clamp(0, 1) * 255.0 + 0.5).byte().permute(0, 2, 3, 1).cpu().numpy()
        return list(result)


def build(ctx: BuildContext) -> Choice:
    """`lama`: LaMa from `LAMA_MODEL` / `LAMA_MODEL_URL` / the baked file; refused without weights."""
    weights = lama_weights(ctx.settings)
    if weights is None:
        raise ConfigError("inpainter 'lama' needs weights: set LAMA_MODEL or LAMA_MODEL_URL")
    plan = ctx.plan
    filler = LamaFiller(load_lama(weights, plan.device), plan.device, plan.inpaint_batch, ctx.settings.inpaint_max_side)
    return Choice(filler, "lama", f"LaMa model {weights.name} on {plan.device}")

