"""The one camera type of the backend, and its conversions at the boundary.

Conventions (written down once, used everywhere):

* ``Cameras`` is a batch of N pinhole cameras sharing one image size ``width x height``.
* ``K`` (N, 3, 3) are intrinsics in pixels. Pixel ``j`` covers ``[j, j+1)``, so its centre is at
  ``u = j + 0.5``; ``cx = W/2`` is the image centre. Rows go down (``v`` grows downwards).
* ``R`` (N, 3, 3), ``t`` (N, 3) map world to camera in OpenCV axes: x right, y down, z forward.
  A point is in front of the camera when its camera ``z > 0``.
* The rasterizer works in kaolin's NDC: ``x_ndc = 2u/W - 1``, ``y_ndc = 1 - 2v/H`` (pixel centres land
  at ``(2j+1-W)/W`` and ``(H-2i-1)/H``) and depth ``z_gl = -z`` (visible points are negative, the
  largest wins).

Converters to and from Blender camera data and NeRF ``transforms.json`` frames are plain math on
dictionaries and arrays, so the backend never needs ``bpy``; ``addon/`` reads the values off Blender
objects and calls these functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

# OpenGL/Blender camera axes (x right, y up, looking down -z) <-> OpenCV axes (x right, y down, z forward).
GL_TO_CV = np.diag([1.0, -1.0, -1.0])


@dataclass
class Cameras:
    """A batch of pinhole cameras. Shapes: K (N, 3, 3), R (N, 3, 3), t (N, 3)."""

    K: torch.Tensor
    R: torch.Tensor
    t: torch.Tensor
    width: int
    height: int

    def __post_init__(self):
        if self.K.dim() != 3 or self.K.shape[1:] != (3, 3):
            raise ValueError(f"K must be (N, 3, 3), got {tuple(self.K.shape)}")
        if self.R.shape != self.K.shape or self.t.shape != (self.K.shape[0], 3):
            raise ValueError(
                f"R must be (N, 3, 3) and t (N, 3) for N={self.K.shape[0]}, "
                f"got {tuple(self.R.shape)} and {tuple(self.t.shape)}")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        self.width, self.height = int(self.width), int(self.height)

    # -- batch helpers -------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.K.shape[0]

    def __getitem__(self, index) -> "Cameras":
        if isinstance(index, int):
            index = slice(index, index + 1) if index != -1 else slice(-1, None)
        return Cameras(self.K[index], self.R[index], self.t[index], self.width, self.height)

    def to(self, device=None, dtype=None) -> "Cameras":
        return Cameras(self.K.to(device=device, dtype=dtype), self.R.to(device=device, dtype=dtype),
                       self.t.to(device=device, dtype=dtype), self.width, self.height)

    def detach(self) -> "Cameras":
        return Cameras(self.K.detach(), self.R.detach(), self.t.detach(), self.width, self.height)

    @staticmethod
    def cat(cameras: list["Cameras"]) -> "Cameras":
        sizes = {(c.width, c.height) for c in cameras}
        if len(sizes) != 1:
            raise ValueError(f"cannot batch cameras of different image sizes: {sorted(sizes)}")
        w, h = sizes.pop()
        return Cameras(torch.cat([c.K for c in cameras]), torch.cat([c.R for c in cameras]),
                       torch.cat([c.t for c in cameras]), w, h)

    @property
    def device(self):
        return self.K.device

    @property
    def centers(self) -> torch.Tensor:
        """Camera centres in world coordinates, (N, 3)."""
        return -(self.R.transpose(1, 2) @ self.t.unsqueeze(-1)).squeeze(-1)

    def resized(self, width: int, height: int) -> "Cameras":
        """The same cameras for an image rescaled to ``width x height`` (intrinsics scale with it)."""
        sx, sy = width / self.width, height / self.height
        scale = torch.tensor([[sx, 0, 0], [0, sy, 0], [0, 0, 1.0]], dtype=self.K.dtype, device=self.K.device)
        return Cameras(scale @ self.K, self.R, self.t, width, height)

    # -- projection ----------------------------------------------------------------------------
    def world_to_camera(self, points: torch.Tensor) -> torch.Tensor:
        """points (N, P, 3) or (P, 3) world -> (N, P, 3) OpenCV camera coordinates."""
        if points.dim() == 2:
            points = points.unsqueeze(0).expand(len(self), -1, -1)
        return points @ self.R.transpose(1, 2) + self.t.unsqueeze(1)

    def project(self, points: torch.Tensor, eps: float = 1e-8):
        """points (N, P, 3) or (P, 3) world -> pixel coordinates (N, P, 2) and camera depth z (N, P).

        Depth is clamped away from zero only inside the division, so points at or behind the camera
        give finite (but meaningless) pixels; callers decide what to do with ``z <= 0``."""
        cam = self.world_to_camera(points)
        z = cam[..., 2]
        z_safe = torch.where(z.abs() < eps, torch.full_like(z, eps), z)
        uvw = cam @ self.K.transpose(1, 2)
        return uvw[..., :2] / z_safe.unsqueeze(-1), z

    def project_ndc(self, points: torch.Tensor):
        """points -> rasterizer NDC xy (N, P, 2) and kaolin-style depth ``-z`` (N, P)."""
        pix, z = self.project(points)
        x = 2.0 * pix[..., 0] / self.width - 1.0
        y = 1.0 - 2.0 * pix[..., 1] / self.height
        return torch.stack([x, y], dim=-1), -z


# ---------------------------------------------------------------------------------------------
# Blender camera data <-> intrinsics (formulas checked against world_to_camera_view in tests)
# ---------------------------------------------------------------------------------------------

def blender_intrinsics(params: dict) -> tuple[np.ndarray, int, int]:
    """Pixel intrinsics of a Blender perspective camera.

    ``params`` keys: lens, sensor_width, sensor_height, sensor_fit ('AUTO'|'HORIZONTAL'|'VERTICAL'),
    shift_x, shift_y, resolution_x, resolution_y, resolution_percentage, pixel_aspect_x, pixel_aspect_y.
    Returns (K 3x3 float64, W, H).
    """
    pct = params.get("resolution_percentage", 100)
    w = int(params["resolution_x"] * pct / 100)
    h = int(params["resolution_y"] * pct / 100)
    # Blender clamps pixel aspect values below 1 to 1.
    ax = max(float(params.get("pixel_aspect_x", 1.0)), 1.0)
    ay = max(float(params.get("pixel_aspect_y", 1.0)), 1.0)
    ycor = ay / ax
    fit = params.get("sensor_fit", "AUTO")
    if fit == "AUTO":
        fit = "HORIZONTAL" if w * ax >= h * ay else "VERTICAL"
        sensor = params["sensor_width"]
    elif fit == "HORIZONTAL":
        sensor = params["sensor_width"]
    elif fit == "VERTICAL":
        sensor = params["sensor_height"]
    else:
        raise ValueError(f"unknown sensor_fit {fit!r}")
    viewfac = w if fit == "HORIZONTAL" else h * ycor
    fx = params["lens"] / sensor * viewfac
    fy = fx / ycor
    cx = w / 2.0 - params.get("shift_x", 0.0) * viewfac
    cy = h / 2.0 + params.get("shift_y", 0.0) * viewfac / ycor
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    return K, w, h


def blender_params_from_intrinsics(K: np.ndarray, width: int, height: int, sensor_width: float = 36.0) -> dict:
    """Blender camera settings that reproduce ``K`` for a ``width x height`` image (the inverse of
    :func:`blender_intrinsics`). Non-square pixels become a pixel aspect; the sensor fit is HORIZONTAL."""
    K = np.asarray(K, dtype=np.float64)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    ycor = fx / fy  # fy = fx / ycor
    if ycor >= 1.0:
        aspect_x, aspect_y = 1.0, ycor
    else:
        aspect_x, aspect_y = 1.0 / ycor, 1.0
    viewfac = float(width)
    return {
        "lens": fx / viewfac * sensor_width,
        "sensor_width": sensor_width,
        "sensor_height": sensor_width * height / width,
        "sensor_fit": "HORIZONTAL",
        "shift_x": (width / 2.0 - cx) / viewfac,
        "shift_y": (cy - height / 2.0) * ycor / viewfac,
        "resolution_x": int(width),
        "resolution_y": int(height),
        "resolution_percentage": 100,
        "pixel_aspect_x": aspect_x,
        "pixel_aspect_y": aspect_y,
    }


def c2w_gl_to_rt(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-to-world 4x4 in Blender/OpenGL camera axes (Blender ``matrix_world`` or a NeRF
    ``transform_matrix``) -> OpenCV world-to-camera R (3x3), t (3,). Any scale in the matrix is dropped."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise ValueError("camera matrix must be a finite 4x4 matrix")
    rot = m[:3, :3]
    norms = np.linalg.norm(rot, axis=0)
    if np.any(norms < 1e-12):
        raise ValueError("camera matrix has a degenerate (zero-scale) rotation")
    rot = rot / norms
    if abs(np.linalg.det(rot) - 1.0) > 1e-3:
        raise ValueError("camera matrix rotation is not a proper rotation (mirrored or sheared)")
    R = GL_TO_CV @ rot.T
    t = -R @ m[:3, 3]
    return R, t


def rt_to_c2w_gl(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """OpenCV world-to-camera R, t -> camera-to-world 4x4 in Blender/OpenGL camera axes."""
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    m = np.eye(4)
    m[:3, :3] = (GL_TO_CV @ R).T
    m[:3, 3] = -R.T @ t
    return m


def cameras_from_arrays(K, R, t, width: int, height: int, dtype=torch.float32, device=None) -> Cameras:
    """Build a ``Cameras`` batch from numpy arrays (N,3,3), (N,3,3), (N,3)."""
    as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype, device=device)  # noqa: E731
    return Cameras(as_t(K), as_t(R), as_t(t), width, height)


def cameras_from_blender(params_list: list[dict], dtype=torch.float32, device=None) -> Cameras:
    """Blender cameras (each dict as in :func:`blender_intrinsics` plus ``matrix_world`` 4x4) -> Cameras.
    All cameras must give the same image size."""
    Ks, Rs, ts, sizes = [], [], [], set()
    for p in params_list:
        K, w, h = blender_intrinsics(p)
        R, t = c2w_gl_to_rt(p["matrix_world"])
        Ks.append(K), Rs.append(R), ts.append(t), sizes.add((w, h))
    if len(sizes) != 1:
        raise ValueError(f"cameras render different image sizes: {sorted(sizes)}")
    w, h = sizes.pop()
    return cameras_from_arrays(Ks, Rs, ts, w, h, dtype, device)


# ---------------------------------------------------------------------------------------------
# NeRF transforms.json frames
# ---------------------------------------------------------------------------------------------

def transforms_intrinsics(meta: dict, frame: dict, image_size: tuple[int, int] | None = None):
    """Intrinsics of one transforms.json frame; per-frame keys override global ones.

    Accepts ``camera_angle_x`` (and optional ``camera_angle_y``) or ``fl_x``/``fl_y``/``cx``/``cy``;
    ``w``/``h`` may be missing when ``image_size`` (W, H) of the actual image is given.
    Returns (K 3x3 float64, W, H)."""
    get = lambda k: frame.get(k, meta.get(k))  # noqa: E731
    w, h = get("w"), get("h")
    if w is None or h is None:
        if image_size is None:
            raise ValueError("transforms.json gives no w/h and no image size is known")
        w, h = image_size
    w, h = int(w), int(h)
    fl_x, fl_y = get("fl_x"), get("fl_y")
    if fl_x is None and get("camera_angle_x") is not None:
        fl_x = 0.5 * w / math.tan(0.5 * float(get("camera_angle_x")))
    if fl_y is None and get("camera_angle_y") is not None:
        fl_y = 0.5 * h / math.tan(0.5 * float(get("camera_angle_y")))
    if fl_x is None and fl_y is None:
        raise ValueError("transforms.json gives neither camera_angle_x nor fl_x")
    fl_x = fl_y if fl_x is None else fl_x
    fl_y = fl_x if fl_y is None else fl_y
    cx = get("cx")
    cy = get("cy")
    cx = w / 2.0 if cx is None else float(cx)
    cy = h / 2.0 if cy is None else float(cy)
    K = np.array([[float(fl_x), 0.0, cx], [0.0, float(fl_y), cy], [0.0, 0.0, 1.0]])
    if not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError("intrinsics are not finite and positive")
    return K, w, h


def transforms_frame_entry(K: np.ndarray, R: np.ndarray, t: np.ndarray, width: int, height: int) -> dict:
    """The intrinsics and ``transform_matrix`` of one camera as transforms.json per-frame keys."""
    K = np.asarray(K, dtype=np.float64)
    return {
        "fl_x": float(K[0, 0]), "fl_y": float(K[1, 1]), "cx": float(K[0, 2]), "cy": float(K[1, 2]),
        "w": int(width), "h": int(height),
        "transform_matrix": rt_to_c2w_gl(R, t).tolist(),
    }
