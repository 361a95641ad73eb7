"""Image I/O for the backend: read any PNG/JPEG into float32 [0, 1], write PNGs atomically, resize.

Conventions: arrays are (H, W, C), row 0 on top, float32 in [0, 1]. Channel counts are kept as in the
file: 1 (grey), 2 (grey + alpha), 3 (RGB), 4 (RGBA); :func:`split_rgb_alpha` turns any of them into
(RGB, alpha or None). Photos are turned upright by their EXIF orientation tag by default, as every
viewer and camera phone shows them; ``upright=False`` reads the stored pixel grid, for cameras that
were calibrated on it (the loaders decide per photo from the size their cameras give:
:func:`reads_upright`). Large JPEGs are decoded at a reduced scale (Pillow's ``draft``, a DCT
shortcut that never goes below the requested size) when the caller says how many pixels it needs.

Pillow reads 16-bit grey PNGs at full precision; 16-bit RGB(A) PNGs are reduced to 8 bits by Pillow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..atomic import atomic_file
from ..runtime.errors import InputError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG", ".webp", ".bmp", ".tif", ".tiff")


# EXIF orientations 5-8 turn the stored grid by 90 degrees (width and height swap).
_TRANSPOSED = (5, 6, 7, 8)
_EXIF_ORIENTATION = 0x0112


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except (OSError, ValueError, TypeError, SyntaxError):  # a malformed EXIF block: read as stored
        return 1


def image_size(path, upright: bool = True) -> tuple[int, int]:
    """(width, height) of an image file, read from its header only (``upright``: after the EXIF
    orientation, as :func:`read_image` returns it). Raises InputError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            w, h = int(im.width), int(im.height)
            return (h, w) if upright and _orientation(im) in _TRANSPOSED else (w, h)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
        raise InputError(f"{path}: not a readable image ({e})") from e


def reads_upright(path, size: tuple[int, int], stored_by_default: bool = False) -> bool:
    """Whether a camera made for ``size`` (W, H) sees the photo upright (EXIF orientation applied) or as
    stored. The aspect ratio decides when the orientation turns the photo by 90 degrees and only one
    grid fits; otherwise (a 180-degree turn, a mirror, a square photo) the tool decides:
    ``stored_by_default`` for cameras from COLMAP (and LLFF, which runs COLMAP), which calibrate on the
    stored pixels and ignore the tag, so that photos taken with one camera share its intrinsics."""
    up, raw = image_size(path), image_size(path, upright=False)
    fits = lambda a: abs(a[0] * size[1] - a[1] * size[0]) <= 0.01 * a[1] * size[0]  # noqa: E731
    if up != raw and fits(up) != fits(raw):
        return fits(up)
    return not stored_by_default


def exif_orientation(path) -> int:
    """The photo's EXIF orientation tag (1: stored upright, also when there is none)."""
    try:
        with Image.open(path) as im:
            return _orientation(im)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
        raise InputError(f"{path}: not a readable image ({e})") from e


def _to_float(im: Image.Image) -> np.ndarray:
    """A loaded Pillow image -> (H, W, C) float32 in [0, 1]."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(im, dtype=np.uint16).astype(np.float32) / 65535.0
        return arr[..., None]
    if mode == "I":  # 32-bit int; Pillow uses it for 16-bit grey PNGs too
        arr = np.asarray(im, dtype=np.int64).astype(np.float64)
        top = 65535.0 if arr.max(initial=0) <= 65535 else float(2 ** 31 - 1)
        return np.clip(arr / top, 0.0, 1.0).astype(np.float32)[..., None]
    if mode == "F":
        return np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0)[..., None]
    if mode == "1":
        im = im.convert("L")
    elif mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        # CMYK, YCbCr, LAB, HSV, RGBX, La ... -> RGB(A)
        im = im.convert("RGBA" if "A" in mode or "a" in mode else "RGB")
    arr = np.asarray(im, dtype=np.uint8).astype(np.float32) / 255.0
    if arr.ndim == 2:
        arr = arr[..., None]
    return arr


def read_image(path, upright: bool = True, min_size: tuple[int, int] | None = None) -> np.ndarray:
    """Read an image file -> (H, W, C) float32 in [0, 1], C in {1, 2, 3, 4}, row 0 on top.

    ``upright``: apply the EXIF orientation. ``min_size`` (W, H of the upright image): the caller
    needs no more pixels than this, so a JPEG may be decoded at 1/2, 1/4 or 1/8 scale (never smaller
    than ``min_size``; the caller resizes the rest of the way). Missing, corrupt or truncated files
    raise :class:`InputError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            turn = _orientation(im) if upright else 1
            if min_size is not None and im.format == "JPEG":
                w, h = (min_size[1], min_size[0]) if turn in _TRANSPOSED else min_size
                im.draft(im.mode, (int(w), int(h)))
            im.load()  # decode now, so truncated data fails here (not lazily later)
            if turn != 1:
                im = ImageOps.exif_transpose(im)
            arr = _to_float(im)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
        raise InputError(f"{path}: not a readable image, corrupt or truncated ({e})") from e
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{path}: image has zero size")
    return np.ascontiguousarray(arr, dtype=np.float32)


class ImageReader:
    """A photo file read on demand: ``reader()`` -> :func:`read_image` (upright unless told), then
    ``after(pixels)`` when set (e.g. lens undistortion). ``min_size`` may be set by whoever knows the
    working size, before the read. InputErrors name ``label`` (the frame) besides the file."""

    def __init__(self, path, label: str = "", upright: bool = True, after=None):
        self.path, self.label, self.upright, self.after = Path(path), label, upright, after
        self.min_size: tuple[int, int] | None = None

    def __call__(self) -> np.ndarray:
        try:
            arr = read_image(self.path, self.upright, self.min_size)
            return self.after(arr) if self.after is not None else arr
        except InputError as e:
            raise InputError(f"{self.label}: {e}" if self.label else str(e)) from e


def split_rgb_alpha(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W, C) with C in {1, 2, 3, 4} -> (RGB (H, W, 3), alpha (H, W) or None)."""
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[..., None]
    c = arr.shape[-1]
    if c == 1:
        return np.repeat(arr, 3, axis=-1), None
    if c == 2:
        return np.repeat(arr[..., :1], 3, axis=-1), arr[..., 1]
    if c == 3:
        return arr, None
    if c == 4:
        return arr[..., :3], arr[..., 3]
    raise ValueError(f"expected 1-4 channels, got {c}")


def _to_uint(arr: np.ndarray, bits: int) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype == np.uint8 and bits == 8:
        return arr
    if arr.dtype == np.uint16 and bits == 16:
        return arr
    if arr.dtype.kind in "ui":
        scale = (2 ** bits - 1) / float(np.iinfo(arr.dtype).max)
        return np.round(arr.astype(np.float64) * scale).astype(np.uint8 if bits == 8 else np.uint16)
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("image contains NaN or inf values")
    top = 2 ** bits - 1
    return np.round(np.clip(arr, 0.0, 1.0) * top).astype(np.uint8 if bits == 8 else np.uint16)


def write_png(path, array, bits: int = 8) -> Path:
    """Write (H, W) or (H, W, C) C in {1, 2, 3, 4} to a PNG atomically (temp file + os.replace).

    Float input is clipped to [0, 1]; NaN/inf raise ValueError. ``bits=16`` is supported for grey images
    only (Pillow has no 16-bit RGB writer)."""
    path = Path(path)
    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (2, 3, 4)):
        raise ValueError(f"write_png expects (H, W) or (H, W, 1-4), got shape {arr.shape}")
    if bits not in (8, 16) or (bits == 16 and arr.ndim != 2):
        raise ValueError("write_png: bits must be 8, or 16 for single-channel images")
    data = _to_uint(arr, bits)
    if bits == 16:
        im = Image.fromarray(data.astype(np.uint16))  # mode I;16
    else:
        mode = "L" if data.ndim == 2 else {2: "LA", 3: "RGB", 4: "RGBA"}[data.shape[-1]]
        im = Image.frombuffer(mode, (data.shape[1], data.shape[0]), np.ascontiguousarray(data).tobytes(),
                              "raw", mode, 0, 1)
    with atomic_file(path, "wb") as f:
        im.save(f, format="PNG")
    return path


def resize_image(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize (H, W) or (H, W, C) float to (height, width[, C]) float32.

    Downscaling averages over each output pixel's footprint (area / box filter, exact for fractional
    ratios), so thin features and mask edges do not alias; upscaling is bilinear. Masks use the same
    function and stay in [0, 1] (soft at the edges)."""
    arr = np.asarray(arr, dtype=np.float32)
    width, height = int(width), int(height)
    if width <= 0 or height <= 0:
        raise ValueError(f"target size must be positive, got {width}x{height}")
    squeeze = arr.ndim == 2
    if squeeze:
        arr = arr[..., None]
    h, w = arr.shape[:2]
    if (w, h) == (width, height):
        out = arr.copy()
        return out[..., 0] if squeeze else out
    down = width <= w and height <= h
    resample = Image.Resampling.BOX if down else Image.Resampling.BILINEAR
    channels = []
    for c in range(arr.shape[-1]):
        im = Image.fromarray(np.ascontiguousarray(arr[..., c]), mode="F")
        channels.append(np.asarray(im.resize((width, height), resample=resample), dtype=np.float32))
    out = np.stack(channels, axis=-1)
    lo, hi = float(arr.min()), float(arr.max())
    out = np.clip(out, lo, hi)  # bilinear cannot overshoot, but keep float noise inside the input range
    return out[..., 0] if squeeze else out
