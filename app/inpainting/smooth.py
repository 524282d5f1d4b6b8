"""Interpolating under a mark whose surroundings are smooth (sky, a gradient, a flat wall).

There the picture under the mark is best interpolated: a membrane (harmonic) fill reproduces a linear
gradient to within a fraction of a level, where Telea (first order, from the mask's edge) streaks and un-blending (statistics
estimated per pixel) leaves coloured noise. Whether the surroundings are smooth is measured, not
assumed: a band just outside the mask is predicted from beyond it, and the fill is used only when that
prediction is within `SMOOTH_ERROR` levels (mean over pixels and RGB channels) of the band's real pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

BAND = 2  # px at half size (4 in the crop): the ring outside the mask predicted to test smoothness
SMOOTH_ERROR = 1.5  # mean absolute error (levels, over pixels and RGB channels) the ring's prediction may have
ITERATIONS = 12  # relaxation sweeps per pyramid level (the coarser level gives the start)
ROUGH = 4.0  # mean |Laplacian| (grey levels) over the band above which the surroundings are texture (sky: ~1, city: 7-30)
MEAN_SLACK = 1e-3  # levels: float32 rounding between the channels' mean test and the full one
MIN_LEVEL = 8  # px: below this side the pyramid stops and the hole starts from the known pixels' mean
_NEIGHBOURS = np.array([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]], np.float32)
_MEAN = np.full((1, 3), 1 / 3, np.float32)  # the channels' mean as one channel
_BAND_KERNEL = np.ones((2 * BAND + 1, 2 * BAND + 1), np.uint8)


def membrane(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """`image` (h, w, c) float32 with the pixels under `hole` (bool) replaced by the harmonic fill of the
    rest: each hole pixel the mean of its four neighbours. Solved coarse to fine (the half-size problem's
    answer is the start, then Jacobi sweeps), so a wide hole costs a few dozen sweeps, not thousands."""
    out = image.copy()
    if not hole.any():
        return out
    h, w = hole.shape
    known = ~hole
    if min(h, w) >= MIN_LEVEL and known.any():
        size = ((w + 1) // 2, (h + 1) // 2)
        weight = cv2.resize(known.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        total = cv2.resize(image * known[:, :, None], size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], -1)
        coarse = membrane(total / np.maximum(weight, 1e-6)[:, :, None], weight < 0.25)
        start = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)
    else:
        start = np.broadcast_to(image[known].mean(axis=0) if known.any() else np.zeros(image.shape[2], np.float32),
                                image.shape)
    where = hole.astype(np.uint8)
    out = cv2.copyTo(np.ascontiguousarray(start), where, out).reshape(image.shape)
    # The sweeps change only hole pixels, from their four neighbours: run them on the hole's bounding box
    # and one pixel around it (a crop's margin is mostly far from the hole), to the same result.
    x, y, bw, bh = cv2.boundingRect(where)
    window = np.s_[max(0, y - 1): min(h, y + bh + 1), max(0, x - 1): min(w, x + bw + 1)]
    part, inside = np.ascontiguousarray(out[window]), np.ascontiguousarray(where[window])
    for _ in range(ITERATIONS):
        part = cv2.copyTo(cv2.filter2D(part, -1, _NEIGHBOURS, borderType=cv2.BORDER_REPLICATE), inside, part).reshape(part.shape)
    out[window] = part
    return out


def smooth_fill(crop: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """`crop` (uint8 RGB) with `mask` (uint8, >0 = to restore) interpolated, when the surroundings pass the
    test: the band of `BAND` px outside the mask, hidden too and predicted from beyond it, comes back
    within `SMOOTH_ERROR` levels. None when they do not (texture, an edge entering the mask)."""
    inside = mask > 0
    picture = crop.astype(np.float32)
    if not _predictable(picture, inside):
        return None
    filled = membrane(picture, inside)
    return np.clip(filled + 0.5, 0, 255).astype(np.uint8)


def _predictable(picture: np.ndarray, inside: np.ndarray) -> bool:
    """Whether the band around `inside` is predicted from beyond it within `SMOOTH_ERROR`. Tested at half
    size (a quarter of the cost), after a cheap curvature gate that turns texture away."""
    h, w = inside.shape
    size = (max(1, w // 2), max(1, h // 2))
    small = cv2.resize(picture, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], -1)
    hidden = cv2.resize(inside.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0  # any masked pixel
    grown = cv2.dilate(hidden.astype(np.uint8), _BAND_KERNEL) > 0
    band = grown & ~hidden
    if not band.any() or grown.all():
        return False
    curvature = np.abs(cv2.Laplacian(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), cv2.CV_32F))
    if float(curvature[band].mean()) > ROUGH:  # texture: the prediction would fail, at a hundred times the cost
        return False
    # The fill is linear and the same for every channel, so the channels' mean is predicted by the mean
    # of their predictions, whose error is at most their mean error: a failure on that one channel is a
    # failure on the three, found at half the cost (most surroundings that reach here fail).
    mean = cv2.transform(small, _MEAN)[:, :, None]
    if float(np.abs(membrane(mean, grown)[band] - mean[band]).mean()) > SMOOTH_ERROR + MEAN_SLACK:
        return False
    predicted = membrane(small, grown)
    return float(np.abs(predicted[band] - small[band]).mean()) <= SMOOTH_ERROR
