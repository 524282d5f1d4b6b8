"""Pictures for RESULTS.md: a PSNR bar chart and a before/after contact sheet per clip."""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from app.media.probe import probe  # noqa: E402
from app.media.reader import read_frames  # noqa: E402


def psnr_chart(results: list[dict], path: Path) -> None:
    labels = list(results[0]["methods"])
    clips = [r["clip"] for r in results]
    width = 0.8 / len(labels)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for k, label in enumerate(labels):
        values = [r["methods"][label]["psnr_in"] for r in results]
        ax.bar(np.arange(len(clips)) + k * width, values, width, label=label)
    ax.set_xticks(np.arange(len(clips)) + width * (len(labels) - 1) / 2, clips, rotation=10)
    ax.set_ylabel("PSNR inside the watermark region (dB)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _frame(path: Path, index: int) -> np.ndarray:
    for i, frame in enumerate(read_frames(probe(path))):
        if i == index:
            return frame
    raise IndexError(index)


def contact_sheet(result: dict, clean: Path, truth: list[list[tuple[int, int, int, int]]], path: Path) -> None:
    """Rows: clean, input and each method; columns: two moments, cropped around the mark."""
    frames = result["frames"]
    moments = [frames // 3, 2 * frames // 3]
    rows = [("clean original", clean)] + [(label, Path(m["output"])) for label, m in result["methods"].items()]
    tiles = []
    for label, video in rows:
        row = []
        for index in moments:
            frame = _frame(video, index)
            h, w = frame.shape[:2]
            x1, y1, x2, y2 = truth[index][0]
            cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
            half_w, half_h = max(80, (x2 - x1)), max(45, (y2 - y1))
            crop = frame[max(0, cy - half_h) : min(h, cy + half_h), max(0, cx - half_w) : min(w, cx + half_w)]
            crop = cv2.resize(crop, (320, 180), interpolation=cv2.INTER_CUBIC)
            row.append(crop)
        strip = np.concatenate(row, axis=1)
        label_bar = np.full((22, strip.shape[1], 3), 255, np.uint8)
        cv2.putText(label_bar, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.concatenate([label_bar, strip], axis=0))
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(tiles, axis=0), cv2.COLOR_RGB2BGR))
