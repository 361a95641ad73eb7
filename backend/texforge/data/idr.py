"""IDR / NeuS captures (``cameras.npz`` or ``cameras_sphere.npz``, photos in ``image/``) -> frames.

The format of DTU and BlendedMVS as IDR and NeuS ship them: ``image/`` (photos; ``images/`` is read
too), optionally ``mask/`` (masks, often RGB PNGs of 0 and 255; or ``masks/``) and an npz file whose
``world_mat_{i}`` (4x4, only the top 3x4 is used) is the projection P = K [R | t] of the i-th photo in
sorted name order, world -> pixels in OpenCV axes (x right, y down, camera looking along +z), known up
to scale and sign. Other
keys are ignored: ``scale_mat_{i}`` maps the unit sphere those tools train in to the world, which
TexForge does not need (the world frame stays the file's), and ``camera_mat_{i}`` etc. are
by-products. NeuS's ``cameras_sphere.npz`` and IDR's ``cameras.npz`` hold the same ``world_mat``
(only ``scale_mat`` differs), so when a folder holds both, ``cameras_sphere.npz`` is read: one
fixed choice, and naming the other file itself picks it instead.

P is split into K, R, t by an RQ decomposition (signs fixed so that K's diagonal is positive and R is
a proper rotation, -P taken where needed). IDR and NeuS cast the ray of pixel index j through j
itself, while TexForge puts pixel centres at j + 0.5 (as COLMAP does), so the principal point moves
by half a pixel. Skewed cameras are refused: Blender cameras and transforms.json have no skew.

The file stores no image size, so photos are taken to be at the calibrated size, unless the
principal point says otherwise: when it lies outside the photo and sits within 15% of s times the
photo's centre for an integer s >= 2 (a downscaled copy, as LLFF's ``images_N/``), the intrinsics are
divided by s, with a warning. A copy scaled by less than 2 keeps the principal point inside the photo
and cannot be told apart from an off-centre calibration; a principal point far from the centre gives
a warning saying so. EXIF orientation follows the COLMAP and LLFF loaders (stored pixels unless only
the upright grid fits the camera, twice the principal point standing in for the camera's size): the
released datasets are PNGs without the tag, and NeuS poses its own captures with COLMAP, which ignores it.

Masks: photos and the files in ``mask/`` pair by stem when every photo has a mask of its stem (NeuS:
``000.png`` both), else in sorted name order when the counts match (IDR's DTU: ``000000.png`` photos,
``000.png`` masks). Without ``mask/``, mask files are found by name as in every format
(:mod:`texforge.data.mask_files`).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
from scipy.linalg import rq

from ..runtime.errors import InputError
from .gather import Frame
from .images import IMAGE_EXTENSIONS, ImageReader, image_size, reads_upright
from .mask_files import find_mask_file, is_mask_file, mask_reader

# Preference order when a folder holds both (see the module docstring).
CAMERA_FILES = ("cameras_sphere.npz", "cameras.npz")
# IDR and NeuS name them in the singular; some conversions write the plural
IMAGE_FOLDERS, MASK_FOLDERS = ("image", "images"), ("mask", "masks")
# Dropping a skew of 1e-4 fx moves a point at the edge of a 1000-px photo by 0.05 px; calibrated
# cameras have none (DTU's decompose to about 1e-7 fx).
SKEW_TOLERANCE = 1e-4
SCALE_TOLERANCE = 0.15  # how far from s times the photo's centre a downscaled copy's principal point may lie
_WORLD_MAT = re.compile(r"world_mat_(\d+)")


def find_cameras(folder) -> Path | None:
    """The camera file of an IDR / NeuS capture folder (see :data:`CAMERA_FILES`), or None."""
    return next((Path(folder) / n for n in CAMERA_FILES if (Path(folder) / n).is_file()), None)


def decompose_projection(P: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 3x4 projection matrix P ~ K [R | t] (any scale and sign) -> (K with K[2, 2] = 1 and positive
    diagonal, R with det +1, t), K as the matrix states it (pixel centres at integers). Raises
    ValueError for a singular or skewed P."""
    P = np.asarray(P, dtype=np.float64)
    sv = np.linalg.svd(P[:, :3], compute_uv=False)
    if not sv[-1] > 1e-9 * sv[0]:
        raise ValueError("its left 3x3 block is singular, so it is no camera's projection")
    K, R = rq(P[:, :3])
    flip = np.diag(np.sign(np.diag(K)))  # RQ is unique up to these signs; flip squared is identity
    K, R = K @ flip, flip @ R
    p4 = P[:, 3]
    if np.linalg.det(R) < 0:  # -P is the same camera, and its R is proper
        R, p4 = -R, -p4
    t = np.linalg.solve(K, p4)
    K = K / K[2, 2]
    if abs(K[0, 1]) > SKEW_TOLERANCE * K[0, 0]:
        raise ValueError(f"its intrinsics have a skew of {K[0, 1]:.4g} px (focal length {K[0, 0]:.4g} px); "
                         f"TexForge's cameras have none")
    K[0, 1] = 0.0
    return K, R, t


def _load_matrices(path: Path) -> dict[int, np.ndarray]:
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single .npy array, not an .npz archive of named matrices")
        with data:
            found = {int(m.group(1)): data[k] for k in data.files if (m := _WORLD_MAT.fullmatch(k))}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise InputError(f"{path}: not a readable .npz file ({e})") from e
    if not found:
        raise InputError(f"{path}: no world_mat_0, world_mat_1, ... matrices (IDR / NeuS cameras)")
    return found


def _subfolder(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_dir()), None)


def _photos(folder: Path, cameras: Path) -> list[Path]:
    img_dir = _subfolder(folder, IMAGE_FOLDERS)
    if img_dir is None:
        raise InputError(f"{folder}: {cameras.name} found but no {IMAGE_FOLDERS[0]}/ folder with the photos")
    return sorted(p for p in img_dir.iterdir()
                  if p.is_file() and p.suffix in IMAGE_EXTENSIONS and not is_mask_file(p))


def _masks(folder: Path, photos: list[Path]) -> list[Path | None]:
    mask_dir = _subfolder(folder, MASK_FOLDERS)
    if mask_dir is None:
        return [find_mask_file(p, folder) for p in photos]
    masks = sorted(p for p in mask_dir.iterdir() if p.is_file() and p.suffix in IMAGE_EXTENSIONS)
    by_stem = {p.stem: p for p in masks}
    if all(p.stem in by_stem for p in photos):
        return [by_stem[p.stem] for p in photos]
    if len(masks) == len(photos):
        return masks
    raise InputError(f"{mask_dir}: {len(masks)} masks for {len(photos)} photos, named unlike the photos; masks pair "
                     f"with the photos by name, or in sorted name order when there is one per photo")


def _downscale(K: np.ndarray, wh: tuple[int, int]) -> int:
    """The integer factor s by which the photo (W, H) is a downscaled copy of the calibrated one (1: none);
    0 when the principal point fits neither (module docstring)."""
    cx, cy = K[0, 2], K[1, 2]
    if 0 < cx < wh[0] and 0 < cy < wh[1]:
        return 1
    ratios = np.array([2 * cx / wh[0], 2 * cy / wh[1]])
    s = int(round(float(ratios.mean())))
    return s if s >= 2 and np.all(np.abs(ratios / s - 1) <= SCALE_TOLERANCE) else 0


def read_idr_frames(folder, cameras=None) -> tuple[list[Frame], list[str]]:
    """A capture folder with ``image/``, an IDR / NeuS camera file and optionally ``mask/`` -> (frames in
    sorted photo-name order, warnings). ``cameras``: the npz file to read (default: :func:`find_cameras`).

    Headers only; raises InputError naming the file and the frame when the matrices do not fit the photos."""
    folder = Path(folder)
    path = Path(cameras) if cameras is not None else find_cameras(folder)
    if path is None:
        raise InputError(f"{folder}: no {' or '.join(CAMERA_FILES)} (IDR / NeuS cameras)")
    matrices = _load_matrices(path)
    photos = _photos(folder, path)
    if len(photos) != len(matrices):
        raise InputError(f"{path}: {len(matrices)} world_mat matrices but {len(photos)} photos in "
                         f"{photos[0].parent if photos else folder}; world_mat_i is the i-th photo in sorted name "
                         f"order, so the folder must hold exactly the photos that were calibrated")
    masks = _masks(folder, photos)
    frames, warnings, scaled, off_centre = [], [], set(), []
    for i, (photo, mask) in enumerate(zip(photos, masks)):
        label = f"frame {photo.name}"
        where = f"{path}: {label} (world_mat_{i})"
        if i not in matrices:
            raise InputError(f"{path}: no world_mat_{i} for {label} (world_mat_i is the i-th photo in sorted name "
                             f"order, counting from 0)")
        m = matrices[i]
        if m.shape not in ((4, 4), (3, 4)) or m.dtype.kind not in "iuf":
            raise InputError(f"{where}: expected a 4x4 matrix of numbers, got shape {m.shape} ({m.dtype})")
        if not np.all(np.isfinite(m)):
            raise InputError(f"{where}: the matrix contains NaN or inf")
        try:
            K, R, t = decompose_projection(m[:3])
        except ValueError as e:
            raise InputError(f"{where}: {e}") from e
        K[:2, 2] += 0.5  # pixel index j -> our pixel centre j + 0.5
        upright = reads_upright(photo, (2 * K[0, 2], 2 * K[1, 2]), stored_by_default=True)
        wh = image_size(photo, upright)
        s = _downscale(K, wh)
        if s == 0:
            raise InputError(f"{where}: the principal point ({K[0, 2]:.1f}, {K[1, 2]:.1f}) lies outside the "
                             f"{wh[0]}x{wh[1]} photo and is no whole multiple of its centre, so the photo is "
                             f"neither the calibrated one nor a downscaled copy of it")
        if s > 1:
            K = np.diag([1.0 / s, 1.0 / s, 1.0]) @ K
            scaled.add(s)
        elif not (0.25 < K[0, 2] / wh[0] < 0.75 and 0.25 < K[1, 2] / wh[1] < 0.75):
            off_centre.append(photo.name)
        frames.append(Frame(photo.name, K, R, t, wh, ImageReader(photo, label, upright),
                            mask_reader(mask, label) if mask is not None else None,
                            label=label, path=str(photo), mask_path=str(mask) if mask else ""))
    warnings += [f"{path.name}: the principal point lies outside the photos at about {s} times their centre: "
                 f"photos taken as a 1/{s}-scale copy of the calibrated ones" for s in sorted(scaled)]
    if off_centre:
        listed = ", ".join(off_centre[:3]) + (f" and {len(off_centre) - 3} more" if len(off_centre) > 3 else "")
        warnings.append(f"{path.name}: the principal point lies far from the centre of {listed}; if these photos "
                        f"are a resized copy of the calibrated ones, use the photos at their calibrated size")
    return frames, warnings
