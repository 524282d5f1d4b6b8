"""The shipped watermark detector: PP-OCRv4's text detector (a DB probability-map network whose
weights come in the rapidocr wheel) fine-tuned to mark watermarks (text, logos, badges) instead of
all text. Starting from a pretrained network is what makes CPU training in minutes work: YOLO from
its yaml reached mAP50 0.04 after 5 epochs (31 minutes) on the same data (`python -m training --model yolo`).

Targets are the marks' boxes filled in; the network learns a probability map whose regions are
the marks, read back into boxes by `app.detection.text` exactly as at run time.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from loguru import logger

from app.detection.text import input_channels, load_text_model, model_path, network_input, widened
from training.clips import stored_stats

TILE = 320  # training crops are TILE x TILE, so images of any shape batch together
# Pictures are rescaled by a factor from this range before cropping: the dataset's frames are 640 px
# wide, the worker reads frames at up to 960 px (1.5x), and marks come at every size in between.
SCALES = (0.6, 1.6)
WINDOW_LR = 5e-4  # the second stage starts from a trained network: half the first stage's peak rate


def boxes_of(label: Path, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """YOLO label lines as pixel boxes (x1, y1, x2, y2)."""
    out = []
    for line in label.read_text().splitlines():
        _, cx, cy, w, h = (float(v) for v in line.split())
        out.append((round((cx - w / 2) * width), round((cy - h / 2) * height),
                    round((cx + w / 2) * width), round((cy + h / 2) * height)))
    return out


def target(boxes: list[tuple[int, int, int, int]], shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.float32)
    for x1, y1, x2, y2 in boxes:
        mask[max(0, y1) : y2, max(0, x1) : x2] = 1.0
    return mask


def _sample(rng: np.random.Generator, image: Path, labels: Path, windows: Path | None
            ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """A TILE x TILE crop of a rescaled picture (and of its window's statistics when `windows` holds
    them) and its target, marks kept whole more often than not."""
    picture = cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB)
    h, w = picture.shape[:2]
    mask = target(boxes_of(labels / f"{image.stem}.txt", w, h), (h, w))
    scale = rng.uniform(*SCALES)
    picture = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    size = (picture.shape[1], picture.shape[0])
    mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
    pad_y, pad_x = max(0, TILE - picture.shape[0]), max(0, TILE - picture.shape[1])
    picture = np.pad(picture, ((0, pad_y), (0, pad_x), (0, 0)), mode="reflect")
    mask = np.pad(mask, ((0, pad_y), (0, pad_x)))
    stats = None
    if windows is not None:
        stats = cv2.resize(stored_stats(windows / f"{image.stem}.png"), size, interpolation=cv2.INTER_AREA)
        stats = np.pad(stats, ((0, pad_y), (0, pad_x), (0, 0)), mode="reflect")
    ys, xs = np.nonzero(mask)
    if len(ys) and rng.random() < 0.7:  # centre the crop near a mark
        k = rng.integers(0, len(ys))
        y = int(np.clip(ys[k] - rng.integers(0, TILE), 0, picture.shape[0] - TILE))
        x = int(np.clip(xs[k] - rng.integers(0, TILE), 0, picture.shape[1] - TILE))
    else:
        y, x = int(rng.integers(0, picture.shape[0] - TILE + 1)), int(rng.integers(0, picture.shape[1] - TILE + 1))
    crop = np.s_[y : y + TILE, x : x + TILE]
    return picture[crop], None if stats is None else stats[crop], mask[crop]


def loss_fn(prob: torch.Tensor, want: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus dice: small marks weigh as much as the background around them."""
    prob = prob.clamp(1e-6, 1 - 1e-6)
    dice = 1 - (2 * (prob * want).sum() + 1) / (prob.sum() + want.sum() + 1)
    return F.binary_cross_entropy(prob, want) + dice


def train(data: Path, epochs: int, batch: int, seed: int, checkpoint: Path, lr: float = 1e-3,
          start: torch.nn.Module | None = None) -> tuple[torch.nn.Module, list[dict]]:
    """Fine-tune a copy of `start` (PP-OCRv4's detector when None) on `data` (YOLO layout; with a
    `windows` folder, the temporal dataset: the network is widened to read the statistics); returns the
    model and the per-epoch losses. After every epoch the whole state goes to `checkpoint`, and a run
    that finds one goes on from there (a long run may span sessions)."""
    torch.manual_seed(seed)
    model = copy.deepcopy(start if start is not None else load_text_model(model_path()))
    windows = data / "windows" / "train" if (data / "windows").is_dir() else None
    if windows is not None and input_channels(model) == 3:
        model = widened(model)
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()  # batches of 8 are too small to re-estimate the pretrained statistics
    images = sorted((data / "images" / "train").glob("*.jpg"))
    labels = data / "labels" / "train"
    steps = epochs * math.ceil(len(images) / batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    curve: list[dict] = []
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        for part, target in (("model", model), ("optimizer", optimizer), ("schedule", schedule)):
            target.load_state_dict(state[part])
        curve = state["curve"]
        logger.info("Resuming the fine-tune after epoch {} from {}", len(curve), checkpoint)
    for epoch in range(len(curve), epochs):
        started, losses = time.perf_counter(), []
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(images))
        for first in range(0, len(order), batch):
            samples = [_sample(rng, images[k], labels, windows) for k in order[first : first + batch]]
            stats = np.stack([s for _, s, _ in samples]) if windows is not None else None
            x = torch.from_numpy(network_input(np.stack([p for p, _, _ in samples]), stats))
            want = torch.from_numpy(np.stack([m for _, _, m in samples]))[:, None]
            loss = loss_fn(model(x), want)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
        curve.append({"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4),
                      "seconds": round(time.perf_counter() - started, 1)})
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(), "curve": curve}, checkpoint)
        logger.info("epoch {}/{}: loss {:.4f} ({:.0f} s)", epoch + 1, epochs, curve[-1]["loss"], curve[-1]["seconds"])
    model.eval()
    return model, curve
