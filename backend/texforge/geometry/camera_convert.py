"""Camera conversions in plain numpy: Blender camera settings, OpenGL camera-to-world matrices and
NeRF ``transforms.json`` frames <-> pixel intrinsics K and OpenCV world-to-camera R, t.

Kept free of torch so that code which only moves cameras between Blender and files (Import/Export
transforms in a Blender without PyTorch) can use the project's one conversion; ``render.camera``
builds its torch ``Cameras`` on these functions. The conventions are those written down in
``render.camera``.
"""

from __future__ import annotations

import math

import numpy as np

# OpenGL/Blender camera axes (x right, y up, looking down -z) <-> OpenCV axes (x right, y down, z forward).
GL_TO_CV = np.diag([1.0, -1.0, -1.0])


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


def camera_entry(name: str, K: np.ndarray, R: np.ndarray, t: np.ndarray) -> dict:
    """One camera as result.json records it: {name, K, R, t (OpenCV), transform_matrix (camera-to-world,
    Blender/OpenGL axes, as in transforms.json)}."""
    K, R, t = (np.asarray(a, dtype=np.float64) for a in (K, R, t))
    return {"name": name, "K": K.tolist(), "R": R.tolist(), "t": t.tolist(),
            "transform_matrix": rt_to_c2w_gl(R, t).tolist()}


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
