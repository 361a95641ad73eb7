"""Lens undistortion of photos for the radial and Brown-Conrady models COLMAP writes.

The renderer is a pinhole camera, so photos with lens distortion are resampled onto the pinhole
image of the same K and size before anything else sees them (masks the same way). Undistorting
rather than refusing: real captures come out of COLMAP with SIMPLE_RADIAL or OPENCV cameras whose
distortion moves pixels by several pixels at the corners, and asking users to run a second tool
first would turn most captures away. The map is the forward model (undistorted pixel -> where it
lies in the photo), which needs no iteration, evaluated at whatever resolution the photo was
decoded at (the distortion lives in normalised coordinates).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# Below this largest displacement (pixels, at the camera's own size) a photo is used as it is.
NEGLIGIBLE_PX = 0.05


def distort_normalised(x: np.ndarray, y: np.ndarray, k1=0.0, k2=0.0, p1=0.0, p2=0.0):
    """Normalised pinhole coordinates -> distorted ones (OpenCV's radial-tangential model, which
    covers SIMPLE_RADIAL (k1), RADIAL (k1, k2) and OPENCV (k1, k2, p1, p2))."""
    r2 = x * x + y * y
    radial = 1.0 + k1 * r2 + k2 * r2 * r2
    xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
    yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
    return xd, yd


def _source_pixels(K: np.ndarray, size: tuple[int, int], coeffs: dict):
    """(u, v) photo coordinates (pixel centres at +0.5) that each pinhole pixel of ``size`` shows."""
    w, h = size
    u, v = np.meshgrid(np.arange(w, dtype=np.float64) + 0.5, np.arange(h, dtype=np.float64) + 0.5)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    xd, yd = distort_normalised((u - cx) / fx, (v - cy) / fy, **coeffs)
    return fx * xd + cx, fy * yd + cy, u, v


def max_displacement(K: np.ndarray, size: tuple[int, int], coeffs: dict) -> float:
    """Largest distance in pixels between a pinhole pixel and the photo pixel that shows it."""
    if not any(coeffs.values()):
        return 0.0
    step = max(1, max(size) // 64)  # a grid, corners included, is enough for a smooth polynomial
    us, vs, u, v = _source_pixels(K, size, coeffs)
    sub = (slice(None, None, step), slice(None, None, step))
    d = np.hypot(us - u, vs - v)
    return float(max(d[sub].max(), d[0, 0], d[0, -1], d[-1, 0], d[-1, -1]))


def undistort_image(arr: np.ndarray, K: np.ndarray, size: tuple[int, int], coeffs: dict) -> np.ndarray:
    """Photo (H', W', C) or (H', W') decoded at any scale of the camera's ``size`` (W, H) -> the
    pinhole image of K at the same (H', W'); pixels the photo does not cover come out 0."""
    arr = np.asarray(arr, dtype=np.float32)
    hh, ww = arr.shape[:2]
    Ks = np.diag([ww / size[0], hh / size[1], 1.0]) @ np.asarray(K, dtype=np.float64)
    us, vs, _, _ = _source_pixels(Ks, (ww, hh), coeffs)
    coords = np.stack([vs - 0.5, us - 0.5])  # array indices of pixel centres
    planes = arr[..., None] if arr.ndim == 2 else arr
    out = np.stack([ndimage.map_coordinates(planes[..., c], coords, order=1, mode="constant", cval=0.0)
                    for c in range(planes.shape[-1])], axis=-1).astype(np.float32)
    return out[..., 0] if arr.ndim == 2 else out
