"""Synthetic watermarks as RGBA images: text in real fonts, logos from icon themes, badge + handle
combos and tiled stock-photo patterns, in the styles real marks use (white, black or colour, outline,
shadow). Opacity is applied when the mark is composited, not here.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

SYLLABLES = ("ka", "lo", "mi", "ra", "to", "ne", "vi", "su", "po", "da", "ze", "lu", "fi", "mo", "ri", "ta", "an",
             "el", "or", "ix", "go", "be", "sha", "tre", "cla", "vo")
WORDS = ("studio", "films", "media", "clips", "stock", "pix", "vision", "daily", "official", "tv", "live", "cam",
         "motion", "frames", "creative", "hub", "news", "world", "art", "shots")
FIXED = ("SAMPLE", "PREVIEW", "Sora", "WATERMARK", "DRAFT", "COPYRIGHT", "Stock Footage", "© 2024", "HD", "4K",
         "EXCLUSIVE", "Licensed", "DEMO")
TEXT_COLOURS = ((255, 255, 255), (255, 255, 255), (255, 255, 255), (0, 0, 0), (240, 240, 240), (30, 30, 30))


def _name(rng: np.random.Generator) -> str:
    word = "".join(rng.choice(SYLLABLES) for _ in range(rng.integers(2, 4)))
    return word + (rng.choice(WORDS) if rng.random() < 0.5 else "")


def random_text(rng: np.random.Generator) -> str:
    """A handle, a site name, a stock-library name or one of the words marks carry."""
    kind = rng.integers(0, 6)
    name = _name(rng)
    if kind == 0:
        return "@" + name + (str(rng.integers(1, 999)) if rng.random() < 0.3 else "")
    if kind == 1:
        return f"www.{name}.{rng.choice(['com', 'net', 'tv', 'io'])}"
    if kind == 2:
        return str(rng.choice(FIXED))
    if kind == 3:
        return name.capitalize() + " " + str(rng.choice(WORDS)).capitalize()
    if kind == 4:
        return name.upper()
    return name.capitalize()


def colour(rng: np.random.Generator) -> tuple[int, int, int]:
    if rng.random() < 0.8:
        return tuple(int(c) for c in TEXT_COLOURS[rng.integers(0, len(TEXT_COLOURS))])
    return tuple(int(c) for c in rng.integers(0, 256, 3))


def _crop(rgba: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(rgba[:, :, 3] > 0)
    if len(ys) == 0:
        return rgba
    return rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def text_mark(rng: np.random.Generator, text: str, font: Path, height: int) -> np.ndarray:
    """`text` about `height` px tall, with an outline or a shadow in a third of the cases."""
    size = max(8, height)
    face = ImageFont.truetype(str(font), size)
    left, top, right, bottom = face.getbbox(text)
    pad = 4 + size // 6
    image = Image.new("RGBA", (right - left + 2 * pad, bottom - top + 2 * pad), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    fill = colour(rng)
    style = rng.integers(0, 3)
    origin = (pad - left, pad - top)
    dark = (0, 0, 0) if sum(fill) > 380 else (255, 255, 255)
    if style == 1:
        draw.text(origin, text, font=face, fill=(*fill, 255), stroke_width=max(1, size // 14), stroke_fill=(*dark, 200))
    else:
        if style == 2:
            shift = max(1, size // 12)
            draw.text((origin[0] + shift, origin[1] + shift), text, font=face, fill=(*dark, 150))
        draw.text(origin, text, font=face, fill=(*fill, 255))
    return _crop(np.asarray(image))


def icon_mark(rng: np.random.Generator, icon: Path, width: int) -> np.ndarray:
    """An icon as a logo: in its colours, or as a one-colour silhouette (the usual channel bug)."""
    rgba = cv2.imread(str(icon), cv2.IMREAD_UNCHANGED)
    if rgba is None or rgba.ndim != 3 or rgba.shape[2] != 4:
        rgba = np.zeros((64, 64, 4), np.uint8)
        cv2.circle(rgba, (32, 32), 28, (255, 255, 255, 255), -1, cv2.LINE_AA)
    rgba = cv2.cvtColor(rgba, cv2.COLOR_BGRA2RGBA)
    if rng.random() < 0.5:
        rgba = rgba.copy()
        rgba[:, :, :3] = colour(rng)
    rgba = _crop(rgba)
    height = max(4, round(rgba.shape[0] * width / max(1, rgba.shape[1])))
    return cv2.resize(rgba, (max(4, width), height), interpolation=cv2.INTER_AREA)


def badge_mark(rng: np.random.Generator, icon: Path, font: Path, height: int) -> np.ndarray:
    """A social-app style mark: a logo and a handle beside (or under) it."""
    text = text_mark(rng, random_text(rng), font, height)
    logo = icon_mark(rng, icon, round(height * rng.uniform(1.2, 2.0)))
    gap = max(2, height // 3)
    if rng.random() < 0.75:
        h = max(text.shape[0], logo.shape[0])
        canvas = np.zeros((h, logo.shape[1] + gap + text.shape[1], 4), np.uint8)
        canvas[(h - logo.shape[0]) // 2 : (h - logo.shape[0]) // 2 + logo.shape[0], : logo.shape[1]] = logo
        y = (h - text.shape[0]) // 2
        canvas[y : y + text.shape[0], logo.shape[1] + gap :] = text
    else:
        w = max(text.shape[1], logo.shape[1])
        canvas = np.zeros((logo.shape[0] + gap + text.shape[0], w, 4), np.uint8)
        x = (w - logo.shape[1]) // 2
        canvas[: logo.shape[0], x : x + logo.shape[1]] = logo
        x = (w - text.shape[1]) // 2
        canvas[logo.shape[0] + gap :, x : x + text.shape[1]] = text
    return canvas


def fit_width(mark: np.ndarray, width: int) -> np.ndarray:
    """`mark` scaled to `width` px wide (area filter when shrinking)."""
    height = max(2, round(mark.shape[0] * width / mark.shape[1]))
    method = cv2.INTER_AREA if width < mark.shape[1] else cv2.INTER_CUBIC
    return cv2.resize(mark, (max(2, width), height), interpolation=method)


def rotate(mark: np.ndarray, degrees: float) -> np.ndarray:
    """`mark` rotated on a canvas large enough to hold it (for diagonal stock patterns)."""
    h, w = mark.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    nw, nh = int(h * sin + w * cos) + 2, int(h * cos + w * sin) + 2
    matrix[0, 2] += nw / 2 - w / 2
    matrix[1, 2] += nh / 2 - h / 2
    return _crop(cv2.warpAffine(mark, matrix, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0)))
