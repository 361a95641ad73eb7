"""Pictures for the reports: compositing, error maps, contact sheets, turntable strips.

All arrays are (H, W, C) float32 in [0, 1], row 0 on top; files are PNGs written atomically by
texforge.data.images.write_png.
"""

from __future__ import annotations

import numpy as np

GAP = 2  # pixels between tiles


def composite(rgba: np.ndarray, background) -> np.ndarray:
    """(..., H, W, 4) straight-alpha RGBA over a constant RGB background -> (..., H, W, 3)."""
    rgba = np.asarray(rgba, dtype=np.float32)
    bg = np.asarray(background if background is not None else (0.0, 0.0, 0.0), dtype=np.float32)
    a = rgba[..., 3:4]
    return rgba[..., :3] * a + bg * (1.0 - a)


def error_map(a: np.ndarray, b: np.ndarray, vmax: float = 0.5) -> np.ndarray:
    """Mean absolute RGB difference of (H, W, 3) images as a 'hot' colour map (H, W, 3):
    black (0) -> red -> yellow -> white (>= vmax)."""
    err = np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean(-1) / vmax
    x = np.clip(err, 0.0, 1.0)[..., None]
    return np.clip(np.concatenate([3 * x, 3 * x - 1, 3 * x - 2], -1), 0.0, 1.0).astype(np.float32)


def hstack(tiles: list[np.ndarray], fill: float = 1.0) -> np.ndarray:
    """Tiles of one height side by side with a ``GAP``-pixel white gutter."""
    h = tiles[0].shape[0]
    gap = np.full((h, GAP, 3), fill, np.float32)
    parts = []
    for i, tile in enumerate(tiles):
        if tile.shape[0] != h:
            raise ValueError("tiles must share one height")
        parts += ([gap] if i else []) + [np.asarray(tile, np.float32)[..., :3]]
    return np.concatenate(parts, 1)


def vstack(rows: list[np.ndarray], fill: float = 1.0) -> np.ndarray:
    w = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 0), (0, w - r.shape[1]), (0, 0)), constant_values=fill) for r in rows]
    parts = []
    for i, r in enumerate(padded):
        parts += ([np.full((GAP, w, 3), fill, np.float32)] if i else []) + [r]
    return np.concatenate(parts, 0)


def contact_row(photo: np.ndarray, render: np.ndarray) -> np.ndarray:
    """photo | reconstruction | error map for one view, (H, 3W + 2 GAP, 3)."""
    return hstack([photo, render, error_map(photo, render)])


def turntable_strip(images: np.ndarray, per_row: int) -> np.ndarray:
    """(N, H, W, 3) turntable renders -> one picture with ``per_row`` views per row."""
    rows = [hstack(list(images[i:i + per_row])) for i in range(0, len(images), per_row)]
    return vstack(rows)
