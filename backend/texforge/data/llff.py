"""LLFF ``poses_bounds.npy`` captures -> frames.

The file (LLFF's ``imgs2poses.py``) holds one row of 17 numbers per photo, in sorted file-name order:
a 3x5 matrix flattened row by row, whose first three columns are the camera-to-world rotation with
columns [down, right, back], the fourth the camera centre, the fifth [height, width, focal] of the
photos as calibrated, then the near and far depth bounds (unused here). Photos are usually shipped
downscaled (``images_4/`` ...), so the intrinsics are scaled to the size of the photos actually found
(principal point at the centre, as LLFF assumes).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..runtime.errors import InputError
from .gather import Frame
from .images import IMAGE_EXTENSIONS, ImageReader, image_size, reads_upright
from .mask_files import find_mask_file, is_mask_file, mask_reader

POSES_FILE = "poses_bounds.npy"


def images_folder(folder: Path) -> Path:
    """``images/`` when present, else the least downscaled ``images_N/``."""
    if (folder / "images").is_dir():
        return folder / "images"
    scaled = sorted((int(m.group(1)), p) for p in folder.glob("images_*")
                    if p.is_dir() and (m := re.fullmatch(r"images_(\d+)", p.name)))
    if not scaled:
        raise InputError(f"{folder}: {POSES_FILE} found but no images/ (or images_N/) folder with the photos")
    return scaled[0][1]


def llff_to_rt(pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One 3x5 LLFF matrix -> OpenCV world-to-camera R, t. LLFF's columns [down, right, back] are the
    OpenCV camera axes y, x and -z."""
    c2w = np.stack([pose[:, 1], pose[:, 0], -pose[:, 2]], axis=1)
    R = c2w.T
    return R, -R @ pose[:, 3]


def read_llff_frames(folder) -> tuple[list[Frame], list[str]]:
    """A capture folder with ``poses_bounds.npy`` and photos -> (frames in sorted name order, warnings).

    Headers only; raises InputError naming the file when the poses do not fit the photos."""
    folder = Path(folder)
    path = folder / POSES_FILE
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable .npy file ({e})") from e
    if arr.ndim != 2 or arr.shape[1] != 17 or not np.all(np.isfinite(arr)):
        raise InputError(f"{path}: expected an N x 17 array of finite numbers (LLFF poses and bounds), "
                         f"got shape {arr.shape}")
    poses = arr[:, :15].reshape(-1, 3, 5).astype(np.float64)
    img_dir = images_folder(folder)
    photos = sorted(p for p in img_dir.iterdir()
                    if p.is_file() and p.suffix in IMAGE_EXTENSIONS and not is_mask_file(p))
    if len(photos) != len(poses):
        raise InputError(f"{path}: {len(poses)} poses but {len(photos)} photos in {img_dir}; LLFF pairs them "
                         f"in sorted name order, so the folder must hold exactly the photos that were posed")
    frames = []
    for pose, photo in zip(poses, photos):
        h0, w0, focal = pose[:, 4]
        label = f"frame {photo.name}"
        if h0 <= 0 or w0 <= 0 or focal <= 0:
            raise InputError(f"{path}: {label} has a non-positive height, width or focal length ({h0}, {w0}, {focal})")
        upright = reads_upright(photo, (w0, h0), stored_by_default=True)
        wh = image_size(photo, upright)
        if abs(wh[0] * h0 - wh[1] * w0) > 0.01 * wh[1] * w0:
            raise InputError(f"{label}: the photo is {wh[0]}x{wh[1]} but {POSES_FILE} says {w0:g}x{h0:g} "
                             f"(a different aspect ratio)")
        s = wh[0] / w0
        K = np.array([[focal * s, 0.0, wh[0] / 2.0], [0.0, focal * wh[1] / h0, wh[1] / 2.0], [0.0, 0.0, 1.0]])
        try:
            R, t = llff_to_rt(pose[:, :4])
        except np.linalg.LinAlgError as e:
            raise InputError(f"{path}: {label} has a degenerate pose") from e
        if abs(np.linalg.det(R) - 1.0) > 1e-3:
            raise InputError(f"{path}: {label}'s rotation is not a proper rotation (determinant {np.linalg.det(R):.3f})")
        mask = find_mask_file(photo, folder)
        frames.append(Frame(photo.name, K, R, t, wh, ImageReader(photo, label, upright),
                            mask_reader(mask, label) if mask is not None else None,
                            label=label, path=str(photo), mask_path=str(mask) if mask else ""))
    return frames, []

