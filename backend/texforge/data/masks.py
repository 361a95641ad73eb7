"""Object masks: from an alpha channel, from a mask file, or from a background-colour model.

All masks are (H, W) float32 in [0, 1], 1 = object. The background-colour model is for RGB-only photos
taken against a plain backdrop: the backdrop colour is estimated from the image border, pixels far from
it are foreground, and the result is cleaned up (small specks removed, the largest components kept,
small enclosed holes filled; large holes are kept because objects can have real holes, e.g. a mug
handle).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .images import read_image, split_rgb_alpha

# Foreground decisions on soft masks use this threshold everywhere.
MASK_THRESHOLD = 0.5


@dataclass
class BackgroundModel:
    """A plain backdrop: its RGB colour (3,), the spread of the border pixels around it (robust std,
    per pixel distance), and the fraction of border pixels that match it (1.0 = perfectly uniform)."""

    color: np.ndarray
    spread: float
    uniform_fraction: float


def mask_from_alpha(alpha: np.ndarray) -> np.ndarray:
    """Alpha (H, W) in [0, 1] -> soft mask (H, W) float32 (alpha as is; anti-aliased edges stay soft)."""
    return np.clip(np.asarray(alpha, dtype=np.float32), 0.0, 1.0)


def has_useful_alpha(alpha: np.ndarray | None) -> bool:
    """True when an alpha channel actually separates something (not all opaque)."""
    return alpha is not None and float(np.min(alpha)) < 0.99


def read_mask(path) -> np.ndarray:
    """A mask image file -> (H, W) float32 in [0, 1]. Grey files are used as is; RGBA files use their
    alpha when it is not all opaque, otherwise the mean of the colour channels (so both nerfstudio's
    black/white masks and transparent PNG masks work)."""
    return mask_from_image(read_image(path))


def mask_from_image(arr: np.ndarray) -> np.ndarray:
    """The pixels of a mask image (H, W, C) -> (H, W) float32 in [0, 1], by :func:`read_mask`'s rule
    (Blender hands over mask images as pixels, not files)."""
    rgb, alpha = split_rgb_alpha(arr)
    if has_useful_alpha(alpha):
        return mask_from_alpha(alpha)
    return np.clip(rgb.mean(axis=-1), 0.0, 1.0).astype(np.float32)


def border_pixels(rgb: np.ndarray, width: int | None = None) -> np.ndarray:
    """Pixels of a band along the four image edges, (P, 3). Band width defaults to 2% of the short side
    (at least 1 px)."""
    h, w = rgb.shape[:2]
    b = width if width is not None else max(1, int(round(0.02 * min(h, w))))
    b = max(1, min(b, h // 2 or 1, w // 2 or 1))
    band = np.zeros((h, w), dtype=bool)
    band[:b, :] = band[-b:, :] = band[:, :b] = band[:, -b:] = True
    return rgb[band].reshape(-1, rgb.shape[-1])


def estimate_background(rgb: np.ndarray, border: int | None = None) -> BackgroundModel:
    """Estimate the backdrop colour of an RGB image (H, W, 3) from its border.

    The colour is the per-channel median of the border pixels, refined once as the median of the
    border pixels close to it (so an object touching the border does not pull the estimate); the
    spread is 1.4826 x the median absolute distance (a robust std) of those pixels."""
    pix = border_pixels(np.asarray(rgb, dtype=np.float32), border)
    color = np.median(pix, axis=0)
    dist = np.linalg.norm(pix - color, axis=1)
    close = dist <= max(0.1, 3.0 * 1.4826 * float(np.median(dist)))
    if close.sum() >= max(3, 0.2 * len(pix)):
        color = np.median(pix[close], axis=0)
        dist = np.linalg.norm(pix - color, axis=1)
    spread = 1.4826 * float(np.median(dist))
    uniform = float(np.mean(dist <= max(0.1, 3.0 * spread)))
    return BackgroundModel(color.astype(np.float32), spread, uniform)


def _keep_large_components(fg: np.ndarray, min_fraction: float) -> np.ndarray:
    """Keep the largest 8-connected component and any other at least ``min_fraction`` of its size."""
    labels, n = ndimage.label(fg, structure=np.ones((3, 3), dtype=bool))
    if n <= 1:
        return fg
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.flatnonzero(sizes >= min_fraction * sizes.max()) + 1
    return np.isin(labels, keep)


def fill_small_holes(fg: np.ndarray, max_fraction: float = 0.05) -> np.ndarray:
    """Fill enclosed background regions smaller than ``max_fraction`` of the foreground area."""
    holes = ndimage.binary_fill_holes(fg) & ~fg
    if not holes.any():
        return fg
    labels, n = ndimage.label(holes)
    sizes = np.bincount(labels.ravel())[1:]
    small = np.flatnonzero(sizes <= max_fraction * max(int(fg.sum()), 1)) + 1
    return fg | np.isin(labels, small)


def mask_from_background(rgb: np.ndarray, model: BackgroundModel | None = None, threshold: float | None = None,
                         min_component_fraction: float = 0.1, max_hole_fraction: float = 0.05) -> np.ndarray:
    """Foreground mask (H, W) float32 in {0, 1} of an RGB image (H, W, 3) against a plain backdrop.

    A pixel is foreground when its RGB distance to the backdrop colour exceeds ``threshold`` (default:
    max(0.08, 4 x the border spread)). Then a 3x3 opening removes specks, components smaller than
    ``min_component_fraction`` of the largest are dropped, and enclosed holes smaller than
    ``max_hole_fraction`` of the object are filled."""
    rgb = np.asarray(rgb, dtype=np.float32)
    model = model if model is not None else estimate_background(rgb)
    thr = threshold if threshold is not None else max(0.08, 4.0 * model.spread)
    fg = np.linalg.norm(rgb - model.color, axis=-1) > thr
    if min(fg.shape) >= 8:
        opened = ndimage.binary_opening(fg, structure=np.ones((3, 3), dtype=bool))
        fg = opened if opened.any() else fg  # never let the clean-up erase a thin object entirely
    if fg.any():
        fg = _keep_large_components(fg, min_component_fraction)
        fg = fill_small_holes(fg, max_hole_fraction)
    return fg.astype(np.float32)


def foreground_pixels(mask: np.ndarray) -> int:
    return int(np.count_nonzero(np.asarray(mask) > MASK_THRESHOLD))


def is_empty_mask(mask: np.ndarray, min_pixels: int = 1) -> bool:
    """True when fewer than ``min_pixels`` pixels are foreground (mask > 0.5)."""
    return foreground_pixels(mask) < min_pixels


def covers_whole_image(mask: np.ndarray, fraction: float = 0.98) -> bool:
    """True when (almost) every pixel is foreground (a mask that separates nothing)."""
    return foreground_pixels(mask) >= fraction * np.asarray(mask).size


# A silhouette this small (0.05 % of the image, at least 4 px) gives the fit nothing to match, and a
# mask this full has no outline; both make a frame unusable, whatever produced the mask.
MIN_FOREGROUND_FRACTION = 0.0005
MIN_FOREGROUND_PIXELS = 4


def mask_problem(mask: np.ndarray) -> str | None:
    """Why a frame's mask makes the frame unusable (None when it is fine): the one rule for every
    way a dataset is gathered (transforms.json, Blender cameras) and for the pipeline's own check."""
    mask = np.asarray(mask)
    if is_empty_mask(mask, max(MIN_FOREGROUND_PIXELS, int(MIN_FOREGROUND_FRACTION * mask.size))):
        return "no object found (its mask is empty); fix its mask or alpha channel, or check the mask source"
    if covers_whole_image(mask):
        return ("the mask covers the whole image, so it has no outline: the object fills the frame or the "
                "backdrop was not separated; keep the whole object inside the frame on a plain backdrop")
    return None
