"""Load and write multi-view datasets in the NeRF ``transforms.json`` convention.

Three dialects load unchanged:

* NeRF-synthetic (Blender): global ``camera_angle_x``, ``file_path`` without extension ("./train/r_0"),
  RGBA images; the training file is ``transforms_train.json``.
* nerfstudio: global or per-frame ``fl_x, fl_y, cx, cy, w, h``, ``file_path`` with extension, optional
  ``mask_path`` per frame.
* instant-ngp: like nerfstudio (``camera_angle_x`` and/or ``fl_x``...); extra keys such as ``aabb_scale``,
  ``scale``, ``offset`` are ignored: poses are used as written (Blender world, camera looks down -Z).

Cameras go through :func:`texforge.render.camera.transforms_intrinsics` and
:func:`texforge.render.camera.c2w_gl_to_rt`, the project's one conversion.

:func:`load_dataset` also takes capture folders that hold no transforms.json: a COLMAP sparse model
(``sparse/0/``, ``sparse/`` or ``cameras.bin``/``.txt`` at the top, :mod:`texforge.data.colmap`) or
an LLFF ``poses_bounds.npy`` (:mod:`texforge.data.llff`), each with its photos in ``images/``, or an
IDR / NeuS ``cameras.npz`` / ``cameras_sphere.npz`` with photos in ``image/`` and masks in ``mask/``
(:mod:`texforge.data.idr`, the DTU and BlendedMVS releases of IDR and NeuS). Every format finds mask
files beside the photos by name (:mod:`texforge.data.mask_files`) when it names none itself, and
``select`` picks frames (e.g. every 8th photo held out for evaluation).

Images of different sizes (same aspect ratio) are rescaled to the most common size (ties: the first
frame's size) and their intrinsics scaled with them (``Cameras.resized`` semantics); images whose
longest side exceeds ``max_size`` are downscaled. Pixels, masks, unusable frames (pruned with a
warning) and the background follow :func:`texforge.data.gather.gather_frames`, the rule the Blender
add-on's cameras follow too; a frame's ``mask_path`` is its mask file.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np

from ..atomic import write_text
from ..runtime.errors import InputError
from ..geometry.camera_convert import c2w_gl_to_rt, transforms_frame_entry, transforms_intrinsics
from .dataset import MultiViewDataset
from .gather import MIN_VIEWS, Frame, gather_frames, too_few_views
from .images import IMAGE_EXTENSIONS, ImageReader, image_size, reads_upright
from .mask_files import find_mask_file, mask_reader
from .working_size import working_size

SPLIT_FILES = {
    "train": ("transforms.json", "transforms_train.json"),
    "test": ("transforms_test.json",),
    "gt": ("transforms_gt.json",),
    "val": ("transforms_val.json",),
}


def resolve_transforms_path(path, split: str = "train") -> Path:
    """A dataset folder or a json file -> the json file of ``split``. Raises InputError if missing."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.exists():
        raise InputError(f"dataset not found: {path}")
    if split not in SPLIT_FILES:
        raise InputError(f"unknown split {split!r}; expected one of {sorted(SPLIT_FILES)}")
    for name in SPLIT_FILES[split]:
        if (path / name).is_file():
            return path / name
    raise InputError(f"{path}: no {' or '.join(SPLIT_FILES[split])} in this folder (split {split!r})")


def _read_json(path: Path) -> dict:
    try:
        with open(path, "r", encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: not a readable JSON file ({e})") from e
    if not isinstance(meta, dict) or not isinstance(meta.get("frames"), list):
        raise InputError(f"{path}: expected a JSON object with a 'frames' list")
    return meta


def _resolve_file(base: Path, file_path: str, name: str, what: str = "image") -> Path:
    """Frame path as written -> existing file. NeRF-synthetic paths have no extension: try the usual ones."""
    p = Path(str(file_path).replace("\\", "/"))  # paths written on Windows
    p = p if p.is_absolute() else base / p
    if p.is_file():
        return p
    for ext in IMAGE_EXTENSIONS:
        q = p.with_name(p.name + ext)
        if q.is_file():
            return q
    raise InputError(f"frame {name}: {what} file not found: {p}")


def _transform_matrix(frame: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    if "transform_matrix" not in frame:
        raise InputError(f"frame {name}: no transform_matrix")
    try:
        m = np.asarray(frame["transform_matrix"], dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InputError(f"frame {name}: transform_matrix is not a 4x4 matrix of numbers") from e
    if m.shape == (3, 4):
        m = np.vstack([m, [0.0, 0.0, 0.0, 1.0]])
    if m.shape != (4, 4):
        raise InputError(f"frame {name}: transform_matrix must be 4x4, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise InputError(f"frame {name}: transform_matrix contains NaN or inf")
    try:
        return c2w_gl_to_rt(m)
    except ValueError as e:
        raise InputError(f"frame {name}: {e}") from e


def _common_size(sizes: list[tuple[int, int]], names: list[str]) -> tuple[int, int]:
    """The most common (W, H) (ties: the first one seen); all sizes must share its aspect ratio."""
    counts = Counter(sizes)
    best = max(counts.values())
    target = next(s for s in sizes if counts[s] == best)
    for s, n in zip(sizes, names):
        if abs(s[0] / s[1] - target[0] / target[1]) > 0.01 * target[0] / target[1]:
            raise InputError(
                f"frame {n}: image is {s[0]}x{s[1]} but most images are {target[0]}x{target[1]}; mixed aspect "
                f"ratios are not supported (crop the images to one aspect ratio)")
    return target


def rescale_intrinsics(K: np.ndarray, src: tuple[int, int], dst: tuple[int, int], what: str) -> np.ndarray:
    """Intrinsics for the same camera on the image rescaled from src (W, H) to dst (W, H) (as
    Cameras.resized). InputError when the aspect ratios differ: that is another image, not a rescale;
    ``what`` names the camera's source in the message."""
    if abs(src[0] / src[1] - dst[0] / dst[1]) > 0.01 * src[0] / src[1]:
        raise InputError(f"{what} says {src[0]}x{src[1]} but the image is {dst[0]}x{dst[1]} (a different aspect ratio)")
    sx, sy = dst[0] / src[0], dst[1] / src[1]
    return np.diag([sx, sy, 1.0]) @ np.asarray(K, np.float64)


def read_frames(path, split: str = "train") -> tuple[list[Frame], list[str], dict]:
    """Parse a transforms.json without decoding any pixels -> (frames, warnings, its top-level object).

    Each :class:`~texforge.data.gather.Frame` holds the camera (K for its image file's own size), the
    image file (``path``), the mask file (``mask_path``, "" when none) and readers for both; its name
    is the frame's file_path as written. The one parser for every reader of transforms.json
    (``load_dataset``, Blender's Import transforms). Raises InputError naming the frame."""
    json_path = resolve_transforms_path(path, split)
    meta = _read_json(json_path)
    base = json_path.parent
    if len(meta["frames"]) == 0:
        raise InputError(f"{json_path}: no frames")
    warnings: list[str] = []
    frames = []
    for i, frame in enumerate(meta["frames"]):
        if not isinstance(frame, dict) or "file_path" not in frame:
            raise InputError(f"{json_path}: frame {i} has no file_path")
        name = str(frame["file_path"])
        f = _resolve_file(base, name, name)
        mask = (_resolve_file(base, str(frame["mask_path"]), name, "mask") if frame.get("mask_path")
                else find_mask_file(f, base))
        try:
            wh = image_size(f)
            K, w, h = transforms_intrinsics(meta, frame, wh)
            # cameras calibrated on a photo's stored grid (its EXIF orientation turns it) keep that grid
            upright = reads_upright(f, (w, h))
            wh = wh if upright else image_size(f, upright=False)
        except InputError as e:
            raise InputError(f"frame {name}: {e}") from e
        except ValueError as e:
            raise InputError(f"frame {name}: {e}") from e
        if (w, h) != wh:
            # The json describes another resolution of the same photo (e.g. nerfstudio's images_2).
            K = rescale_intrinsics(K, (w, h), wh, f"frame {name}: transforms.json")
        R, t = _transform_matrix(frame, name)
        model = str(frame.get("camera_model", meta.get("camera_model", "OPENCV")))
        dist = [float(frame.get(k, meta.get(k, 0.0)) or 0.0) for k in ("k1", "k2", "k3", "k4", "p1", "p2")]
        if "FISHEYE" in model.upper() or any(abs(d) > 1e-6 for d in dist):
            msg = f"lens distortion ({model}) is ignored; undistort the images for best results"
            if msg not in warnings:
                warnings.append(msg)
        frames.append(Frame(name, K, R, t, wh, ImageReader(f, f"frame {name}", upright),
                            mask_reader(mask, f"frame {name}") if mask is not None else None,
                            path=str(f), mask_path=str(mask) if mask is not None else ""))
    return frames, warnings, meta


def capture_format(path, split: str = "train") -> str:
    """What a dataset path holds: "transforms" (a json file, or a folder with the split's json),
    "colmap", "llff" or "idr", looked for in that order. Raises InputError saying what was looked for."""
    from .colmap import find_model
    from .idr import CAMERA_FILES, find_cameras
    from .llff import POSES_FILE

    path = Path(path)
    if path.is_file():
        return "llff" if path.name == POSES_FILE else "idr" if path.name in CAMERA_FILES else "transforms"
    if not path.exists():
        raise InputError(f"dataset not found: {path}")
    if split in SPLIT_FILES and any((path / n).is_file() for n in SPLIT_FILES[split]):
        return "transforms"
    if find_model(path) is not None:
        return "colmap"
    if (path / POSES_FILE).is_file():
        return "llff"
    if find_cameras(path) is not None:
        return "idr"
    wanted = " or ".join(SPLIT_FILES.get(split, ("transforms.json",)))
    raise InputError(f"{path}: no {wanted}, no COLMAP model (sparse/0/, sparse/ or cameras.bin / cameras.txt), no "
                     f"{POSES_FILE} and no IDR / NeuS {' or '.join(CAMERA_FILES)} in this folder; point to a "
                     f"dataset folder in one of these formats")


def read_any_frames(path, split: str = "train") -> tuple[list[Frame], list[str], str]:
    """Frames of any supported dataset folder, headers only -> (frames, warnings, a name for messages).
    ``split`` picks the json of a transforms.json dataset; a capture has one set of photos."""
    kind = capture_format(path, split)
    if kind == "transforms":
        json_path = resolve_transforms_path(path, split)
        frames, warnings, _ = read_frames(json_path)
        return frames, warnings, str(json_path)
    from .colmap import read_colmap_frames
    from .idr import read_idr_frames
    from .llff import read_llff_frames

    named = Path(path) if Path(path).is_file() else None  # poses_bounds.npy or cameras.npz named itself
    folder = named.parent if named is not None else Path(path)
    if kind == "idr":
        frames, warnings = read_idr_frames(folder, named)  # a named camera file wins over the preference
    else:
        frames, warnings = (read_colmap_frames if kind == "colmap" else read_llff_frames)(folder)
    return frames, warnings, str(folder)


def every_nth(k: int, offset: int = 0, keep: bool = True):
    """A ``select`` for :func:`load_dataset`: frames i with i % k == offset (``keep=False``: all others),
    counted in the dataset's frame order (sorted photo names for COLMAP, LLFF and IDR), e.g.
    ``every_nth(8)`` the held-out views and ``every_nth(8, keep=False)`` the training views."""
    if k < 1:
        raise ValueError(f"every_nth: k must be at least 1, got {k}")
    return lambda i, name: (i % k == offset) == keep


def _select(frames: list[Frame], select, where: str) -> list[Frame]:
    if select is None:
        return frames
    if callable(select):
        chosen = [f for i, f in enumerate(frames) if select(i, f.name)]
    else:
        idx = [int(i) for i in select]
        bad = [i for i in idx if not -len(frames) <= i < len(frames)]
        if bad:
            raise InputError(f"{where}: frame indices {bad[:5]} are out of range (the dataset has {len(frames)} frames)")
        chosen = [frames[i] for i in idx]
    if not chosen:
        raise InputError(f"{where}: the frame selection keeps none of the {len(frames)} frames")
    return chosen


def load_dataset(path, split: str = "train", max_size: int | None = None, device=None,
                 background=(0.0, 0.0, 0.0), select=None, mask_source: str = "AUTO") -> MultiViewDataset:
    """Load a dataset -> :class:`MultiViewDataset` (images (N, H, W, 3), masks (N, H, W)).

    ``path``: a dataset folder (split "train" -> transforms.json or transforms_train.json, "test" ->
    transforms_test.json, "gt" -> transforms_gt.json), a json file, or a capture folder with a COLMAP
    model or poses_bounds.npy and images/, or an IDR / NeuS cameras.npz / cameras_sphere.npz and image/
    (split "train", or any split with ``select``: a capture's
    held-out views are ``load_dataset(folder, "test", select=every_nth(8))``, kept unpruned like every
    split but "train"). ``select``: which frames to load, a callable (index, name) -> bool such as
    :func:`every_nth` or a sequence of indices (None: all).
    ``max_size``: longest image side after loading (downscaled if larger; None or 0: no cap).
    ``background``: RGB that RGBA images are composited onto. ``mask_source``: see
    :func:`texforge.data.gather.gather_frames`. Bad input raises :class:`InputError`
    naming the frame; training frames whose masks are unusable are left out (``dataset.pruned``,
    with a warning) while enough usable ones remain; other splits keep them (with the warning)."""
    if split != "train" and select is None and capture_format(path, split) != "transforms":
        raise InputError(f"{path}: a photo capture has no separate {split!r} split; choose its held-out photos with "
                         f"select (e.g. every_nth(8)) and train on the others (every_nth(8, keep=False))")
    # headers first: a bad camera or a missing file fails before any pixels are decoded
    frames, warnings, where = read_any_frames(path, split)
    frames = _select(frames, select, where)
    if split == "train" and len(frames) < MIN_VIEWS:
        raise InputError(f"{where}: {too_few_views(len(frames), MIN_VIEWS, len(frames))}")
    sizes = [f.size for f in frames]
    target = working_size(_common_size(sizes, [f.name for f in frames]), max_size)
    if any(s != target for s in sizes):
        capped = f" (longest side capped at {max_size} px)" if max_size and max(max(s) for s in sizes) > max_size else ""
        warnings.append(f"images rescaled to {target[0]}x{target[1]}{capped}")
    for f in frames:
        if isinstance(f.read_pixels, ImageReader):  # large JPEGs need not be decoded at full size
            f.read_pixels.min_size = target
    train = split == "train"  # held-out and ground-truth views are evaluated one by one: all of them stay
    return gather_frames(frames, target, mask_source, background, MIN_VIEWS if train else 1, warnings, device, prune=train)


def _as_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def write_transforms(path, K, R, t, width: int, height: int, file_paths, extra: dict | None = None,
                     mask_paths=None) -> Path:
    """Write cameras as a transforms.json (atomic: temp file + os.replace).

    K (N, 3, 3), R (N, 3, 3), t (N, 3) OpenCV world-to-camera (numpy or torch); ``file_paths`` one per
    camera. Each frame gets fl_x/fl_y/cx/cy/w/h and transform_matrix; the top level also gets
    camera_angle_x of the first camera (for readers that only know the NeRF-synthetic form) and w/h.
    ``extra`` keys are added at the top level. ``mask_paths`` (optional, one per camera, None for none)
    become the frames' ``mask_path``. ``path`` may be a folder (-> path/transforms.json)."""
    path = Path(path)
    if path.is_dir():
        path = path / "transforms.json"
    K, R, t = _as_numpy(K), _as_numpy(R), _as_numpy(t)
    file_paths = [str(p) for p in file_paths]
    n = len(file_paths)
    if K.shape != (n, 3, 3) or R.shape != (n, 3, 3) or t.shape != (n, 3):
        raise ValueError(f"write_transforms: expected K (N,3,3), R (N,3,3), t (N,3) for N={n} file paths, "
                         f"got {K.shape}, {R.shape}, {t.shape}")
    if not (np.all(np.isfinite(K)) and np.all(np.isfinite(R)) and np.all(np.isfinite(t))):
        raise ValueError("write_transforms: cameras contain NaN or inf")
    meta: dict = {
        "camera_angle_x": 2.0 * math.atan(0.5 * int(width) / float(K[0, 0, 0])),
        "w": int(width),
        "h": int(height),
    }
    if extra:
        meta.update(extra)
    meta["frames"] = [{"file_path": fp, **transforms_frame_entry(K[i], R[i], t[i], width, height)}
                      for i, fp in enumerate(file_paths)]
    for frame, mask in zip(meta["frames"], mask_paths or ()):
        if mask:
            frame["mask_path"] = str(mask)
    write_text(path, json.dumps(meta, indent=2) + "\n")
    return path
