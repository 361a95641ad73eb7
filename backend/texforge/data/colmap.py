"""COLMAP sparse models (``cameras``, ``images``, ``points3D`` in binary or text form) -> frames.

Written from COLMAP's published format (``src/colmap/scene/reconstruction_io.cc`` and the
"Output Format" page of its documentation); no dependency. Binary files are little-endian:

* cameras.bin: uint64 count; per camera int32 id, int32 model id, uint64 width, uint64 height,
  float64 params[n(model)];
* images.bin: uint64 count; per image int32 id, float64 qw qx qy qz tx ty tz, int32 camera id, a
  NUL-terminated name, uint64 number of 2-D points, then (float64 x, float64 y, int64 point id) each;
* points3D.bin: uint64 count; per point uint64 id, float64 xyz, uint8 rgb, float64 error, uint64
  track length, then (int32 image id, int32 point index) each.

The text files hold the same fields one record per line (images: two lines, the second the 2-D
points), ``#`` comments. The pose (quaternion, translation) maps world to camera in OpenCV axes (x
right, y down, z forward) and pixel centres sit at +0.5, exactly the project's K, R, t, so no axis
conversion is needed. PINHOLE, SIMPLE_PINHOLE, SIMPLE_RADIAL, RADIAL and OPENCV cameras are read;
distorted photos are undistorted on read (:mod:`texforge.data.undistort`), masks with them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..runtime.errors import InputError
from .gather import Frame
from .images import ImageReader, image_size, reads_upright
from .mask_files import find_mask_file, mask_reader
from .undistort import NEGLIGIBLE_PX, max_displacement, undistort_image

# COLMAP's model ids, names and parameter counts (all of them, so that a model using another camera
# type parses and the error can name it).
CAMERA_MODELS = {
    0: ("SIMPLE_PINHOLE", 3), 1: ("PINHOLE", 4), 2: ("SIMPLE_RADIAL", 4), 3: ("RADIAL", 5), 4: ("OPENCV", 8),
    5: ("OPENCV_FISHEYE", 8), 6: ("FULL_OPENCV", 12), 7: ("FOV", 5), 8: ("SIMPLE_RADIAL_FISHEYE", 4),
    9: ("RADIAL_FISHEYE", 5), 10: ("THIN_PRISM_FISHEYE", 12), 11: ("RAD_TAN_THIN_PRISM_FISHEYE", 16),
}
MODEL_IDS = {name: (i, n) for i, (name, n) in CAMERA_MODELS.items()}
SUPPORTED_MODELS = ("SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV")
MODEL_FOLDERS = ("sparse/0", "sparse", ".")


@dataclass
class ColmapCamera:
    id: int
    model: str
    width: int
    height: int
    params: np.ndarray


@dataclass
class ColmapImage:
    id: int
    qvec: np.ndarray  # (w, x, y, z), world -> camera
    tvec: np.ndarray
    camera_id: int
    name: str
    xys: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    point3D_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass
class ColmapModel:
    cameras: dict[int, ColmapCamera]
    images: dict[int, ColmapImage]
    points: dict[int, np.ndarray]  # id -> xyz
    folder: Path


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------

class _Binary:
    """Sequential little-endian reads that name the file when it ends early."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data = path.read_bytes()
        except OSError as e:
            raise InputError(f"{path}: cannot read ({e})") from e
        self.pos = 0

    def read(self, fmt: str):
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.data):
            raise InputError(f"{self.path}: truncated or corrupt COLMAP file (ends at byte {len(self.data)} while "
                             f"reading byte {self.pos + size}); re-export the model from COLMAP")
        out = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return out

    def count(self, min_record: int, what: str) -> int:
        (n,) = self.read("Q")
        if n * min_record > len(self.data) - self.pos:
            raise InputError(f"{self.path}: corrupt COLMAP file: it claims {n} {what} but holds "
                             f"{len(self.data) - self.pos} bytes (at least {n * min_record} needed)")
        return n

    def name(self) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise InputError(f"{self.path}: truncated or corrupt COLMAP file (an image name has no end)")
        raw, self.pos = self.data[self.pos:end], end + 1
        return raw.decode("utf-8", errors="replace")

    def finish(self):
        if self.pos != len(self.data):
            raise InputError(f"{self.path}: corrupt COLMAP file: {len(self.data) - self.pos} bytes left over "
                             f"after the records its counts announce")


def _cameras_bin(path: Path) -> dict[int, ColmapCamera]:
    f = _Binary(path)
    out = {}
    for _ in range(f.count(24, "cameras")):
        cid, mid, w, h = f.read("iiQQ")
        if mid not in CAMERA_MODELS:
            raise InputError(f"{path}: corrupt COLMAP file: camera {cid} has unknown camera model id {mid}")
        name, n = CAMERA_MODELS[mid]
        out[cid] = ColmapCamera(cid, name, int(w), int(h), np.array(f.read("d" * n)))
    f.finish()
    return out


def _images_bin(path: Path) -> dict[int, ColmapImage]:
    f = _Binary(path)
    out = {}
    for _ in range(f.count(64, "images")):
        iid, qw, qx, qy, qz, tx, ty, tz, cid = f.read("idddddddi")
        name = f.name()
        (npts,) = f.read("Q")
        if npts * 24 > len(f.data) - f.pos:
            raise InputError(f"{path}: corrupt COLMAP file: image {name} claims {npts} points")
        pts = np.array(f.read("ddq" * npts), dtype=np.float64).reshape(-1, 3) if npts else np.zeros((0, 3))
        out[iid] = ColmapImage(iid, np.array([qw, qx, qy, qz]), np.array([tx, ty, tz]), cid, name,
                               pts[:, :2], pts[:, 2].astype(np.int64))
    f.finish()
    return out


def _points_bin(path: Path) -> dict[int, np.ndarray]:
    f = _Binary(path)
    out = {}
    for _ in range(f.count(51, "points")):
        pid, x, y, z, _r, _g, _b, _err, track = f.read("QdddBBBdQ")
        if track * 8 > len(f.data) - f.pos:
            raise InputError(f"{path}: corrupt COLMAP file: point {pid} claims a track of {track}")
        f.pos += 8 * track
        out[pid] = np.array([x, y, z])
    f.finish()
    return out


def _text_lines(path: Path):
    """(line number, fields) of the non-comment lines; blank lines kept (an image may observe no points)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e})") from e
    return [(i + 1, ln.split()) for i, ln in enumerate(lines) if not ln.lstrip().startswith("#")]


def _numbers(path: Path, lineno: int, fields, what: str):
    try:
        return [float(x) for x in fields]
    except ValueError as e:
        raise InputError(f"{path}, line {lineno}: {what} must be numbers ({e})") from e


def _cameras_txt(path: Path) -> dict[int, ColmapCamera]:
    out = {}
    for lineno, f in _text_lines(path):
        if not f:
            continue
        if len(f) < 4:
            raise InputError(f"{path}, line {lineno}: expected CAMERA_ID MODEL WIDTH HEIGHT PARAMS...")
        model = f[1].upper()
        vals = _numbers(path, lineno, [f[0], f[2], f[3]] + f[4:], "camera id, size and parameters")
        if model in MODEL_IDS and len(f) - 4 != MODEL_IDS[model][1]:
            raise InputError(f"{path}, line {lineno}: a {model} camera has {MODEL_IDS[model][1]} parameters, "
                             f"this line gives {len(f) - 4}")
        out[int(vals[0])] = ColmapCamera(int(vals[0]), model, int(vals[1]), int(vals[2]), np.array(vals[3:]))
    return out


def _images_txt(path: Path) -> dict[int, ColmapImage]:
    out = {}
    lines = _text_lines(path)
    i = 0
    while i < len(lines):
        lineno, f = lines[i]
        if not f:
            i += 1
            continue
        if len(f) < 10:
            raise InputError(f"{path}, line {lineno}: expected IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME")
        v = _numbers(path, lineno, f[:9], "image id, pose and camera id")
        pts = lines[i + 1][1] if i + 1 < len(lines) else []
        if len(pts) % 3:
            raise InputError(f"{path}, line {lineno + 1}: 2-D points come in triples X Y POINT3D_ID")
        p = np.array(_numbers(path, lineno + 1, pts, "2-D points"), dtype=np.float64).reshape(-1, 3)
        out[int(v[0])] = ColmapImage(int(v[0]), np.array(v[1:5]), np.array(v[5:8]), int(v[8]), " ".join(f[9:]),
                                     p[:, :2], p[:, 2].astype(np.int64))
        i += 2
    return out


def _points_txt(path: Path) -> dict[int, np.ndarray]:
    out = {}
    for lineno, f in _text_lines(path):
        if f:
            v = _numbers(path, lineno, f[:4], "point id and position")
            out[int(v[0])] = np.array(v[1:4])
    return out


def find_model(folder) -> Path | None:
    """The folder holding a COLMAP model in a capture folder (sparse/0/, sparse/ or the folder itself)."""
    folder = Path(folder)
    for sub in MODEL_FOLDERS:
        d = folder / sub
        if (d / "cameras.bin").is_file() or (d / "cameras.txt").is_file():
            return d
    return None


def read_model(model_dir) -> ColmapModel:
    """Read cameras, images and (when present) points3D from a model folder; binary wins over text."""
    d = Path(model_dir)
    parts = {}
    for stem, readers in (("cameras", (_cameras_bin, _cameras_txt)), ("images", (_images_bin, _images_txt)),
                          ("points3D", (_points_bin, _points_txt))):
        for ext, reader in zip((".bin", ".txt"), readers):
            if (d / (stem + ext)).is_file():
                parts[stem] = reader(d / (stem + ext))
                break
        else:
            if stem != "points3D":
                raise InputError(f"{d}: COLMAP model without {stem}.bin or {stem}.txt")
            parts[stem] = {}
    return ColmapModel(parts["cameras"], parts["images"], parts["points3D"], d)


# ---------------------------------------------------------------------------------------------
# Cameras
# ---------------------------------------------------------------------------------------------

def quaternion_to_matrix(q) -> np.ndarray:
    """COLMAP's (w, x, y, z) quaternion -> 3x3 rotation (normalised first)."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def intrinsics(cam: ColmapCamera, source: str = "") -> tuple[np.ndarray, dict]:
    """(K for the camera's width x height, distortion {k1, k2, p1, p2}). Raises InputError for models
    other than :data:`SUPPORTED_MODELS`, naming the camera, its model and the supported ones."""
    p = [float(x) for x in cam.params]
    where = f"{source}: " if source else ""
    if cam.model not in SUPPORTED_MODELS:
        raise InputError(f"{where}camera {cam.id} uses the COLMAP camera model {cam.model}, which TexForge does not "
                         f"read; supported models: {', '.join(SUPPORTED_MODELS)}. Run COLMAP's image_undistorter "
                         f"(it writes PINHOLE cameras and undistorted photos) and load its output folder")
    n = MODEL_IDS[cam.model][1]
    if len(p) != n:
        raise InputError(f"{where}camera {cam.id} ({cam.model}) has {len(p)} parameters; expected {n}")
    if cam.model in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL"):
        fx = fy = p[0]
        cx, cy = p[1], p[2]
        coeffs = {"k1": p[3] if n > 3 else 0.0, "k2": p[4] if n > 4 else 0.0}
    else:
        fx, fy, cx, cy = p[:4]
        coeffs = dict(zip(("k1", "k2", "p1", "p2"), p[4:8])) if n == 8 else {}
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    if not (np.all(np.isfinite(K)) and fx > 0 and fy > 0 and cam.width > 0 and cam.height > 0):
        raise InputError(f"{where}camera {cam.id} ({cam.model}) has non-positive focal length or size")
    return K, {k: v for k, v in coeffs.items() if v}


def _undistorter(K: np.ndarray, size, coeffs: dict):
    return lambda arr: undistort_image(arr, K, size, coeffs)


def read_colmap_frames(folder, images_dir=None) -> tuple[list[Frame], list[str]]:
    """A capture folder with a COLMAP model and ``images/`` -> (frames sorted by image name, warnings).

    Reads headers only; pixels are read (and undistorted) when the frames' readers are called. Each
    frame's K refers to its photo's own size (photos may be a downscaled copy of the calibrated
    ones, with the same aspect ratio). Masks come from :func:`texforge.data.mask_files.find_mask_file`.
    Raises InputError naming the file, the camera or the missing photos."""
    folder = Path(folder)
    model_dir = find_model(folder)
    if model_dir is None:
        raise InputError(f"{folder}: no COLMAP model (sparse/0/, sparse/ or the folder itself with cameras.bin "
                         f"or cameras.txt)")
    model = read_model(model_dir)
    if images_dir is None and not (folder / "images").is_dir() and folder.parent.name == "sparse":
        folder = folder.parent.parent  # the path named the model folder itself (CAPTURE/sparse/0)
    images_dir = Path(images_dir) if images_dir else folder / "images"
    if not model.images:
        raise InputError(f"{model_dir}: the COLMAP model registers no images")
    if not images_dir.is_dir():
        raise InputError(f"{folder}: no images/ folder next to the COLMAP model (expected the photos in {images_dir})")
    entries = sorted(model.images.values(), key=lambda im: im.name)
    missing = [im.name for im in entries if not (images_dir / im.name).is_file()]
    if missing:
        listed = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError(f"{images_dir}: {len(missing)} of the {len(entries)} photos that the COLMAP model names are "
                         f"missing: {listed}; copy them into {images_dir} or load the folder COLMAP ran on")
    cam_file = next((model_dir / f"cameras{e}" for e in (".bin", ".txt") if (model_dir / f"cameras{e}").is_file()))
    warnings, frames, distorted = [], [], {}
    for im in entries:
        if im.camera_id not in model.cameras:
            raise InputError(f"{model_dir}: image {im.name} refers to camera {im.camera_id}, which "
                             f"{cam_file.name} does not hold")
        cam = model.cameras[im.camera_id]
        K, coeffs = intrinsics(cam, str(cam_file))
        path = images_dir / im.name
        label = f"frame {im.name}"
        upright = reads_upright(path, (cam.width, cam.height), stored_by_default=True)
        wh = image_size(path, upright)
        if abs(wh[0] * cam.height - wh[1] * cam.width) > 0.01 * wh[1] * cam.width:
            raise InputError(f"{label}: the photo is {wh[0]}x{wh[1]} but its COLMAP camera {cam.id} is "
                             f"{cam.width}x{cam.height} (a different aspect ratio)")
        K = np.diag([wh[0] / cam.width, wh[1] / cam.height, 1.0]) @ K
        shift = max_displacement(K, wh, coeffs) if coeffs else 0.0
        undistort = _undistorter(K, wh, coeffs) if shift > NEGLIGIBLE_PX else None
        if undistort is not None and cam.id not in distorted:
            distorted[cam.id] = shift
            params = ", ".join(f"{k}={v:.4g}" for k, v in coeffs.items())
            warnings.append(f"camera {cam.id} ({cam.model}, {params}): photos undistorted on loading "
                            f"(pixels move by up to {shift:.1f} px)")
        mask = find_mask_file(path, folder, im.name)
        R = quaternion_to_matrix(im.qvec)
        frames.append(Frame(im.name, K, R, np.asarray(im.tvec, dtype=np.float64), wh,
                            ImageReader(path, label, upright, undistort),
                            mask_reader(mask, label, undistort) if mask is not None else None,
                            label=label, path=str(path), mask_path=str(mask) if mask else ""))
    return frames, warnings
