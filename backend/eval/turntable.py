"""Turntable cameras: a ring of look-at cameras around an object (azimuths x elevations)."""

from __future__ import annotations

import math

import numpy as np

from ..render.camera import c2w_gl_to_rt


def look_at_c2w(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Camera-to-world 4x4 in Blender/OpenGL camera axes (looks down -Z, +Y up) at ``eye`` looking at
    ``target`` with world ``up`` (Z-up)."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    back = eye - target  # camera +Z points away from the target
    n = np.linalg.norm(back)
    if n < 1e-12:
        raise ValueError("camera position coincides with its target")
    back /= n
    right = np.cross(up, back)
    if np.linalg.norm(right) < 1e-9:  # looking straight up/down: any right vector will do
        right = np.cross((0.0, 1.0, 0.0), back)
    right /= np.linalg.norm(right)
    cam_up = np.cross(back, right)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, cam_up, back, eye
    return m


def turntable_cameras(center, distance: float, fov_deg: float, size: int, azimuths: int = 12,
                      elevations_deg=(10.0, 35.0)):
    """Cameras on ``len(elevations_deg)`` rings of ``azimuths`` evenly spaced views around ``center``.

    Returns K (N, 3, 3), R (N, 3, 3), t (N, 3) (OpenCV world-to-camera), N = azimuths x elevations,
    ordered elevation-major (ring by ring), square ``size x size`` images, horizontal field of view
    ``fov_deg``. Azimuth 0 looks along +Y from the -Y side (Blender's front view)."""
    if azimuths < 1 or size < 1 or distance <= 0 or not (0 < fov_deg < 180):
        raise ValueError("turntable needs azimuths >= 1, size >= 1, distance > 0 and 0 < fov < 180")
    center = np.asarray(center, dtype=np.float64)
    f = 0.5 * size / math.tan(math.radians(fov_deg) / 2)
    K = np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1.0]])
    Ks, Rs, ts = [], [], []
    for elev in elevations_deg:
        e = math.radians(elev)
        for k in range(azimuths):
            a = 2 * math.pi * k / azimuths
            eye = center + distance * np.array([math.sin(a) * math.cos(e), -math.cos(a) * math.cos(e), math.sin(e)])
            R, t = c2w_gl_to_rt(look_at_c2w(eye, center))
            Ks.append(K), Rs.append(R), ts.append(t)
    return np.stack(Ks), np.stack(Rs), np.stack(ts)


def framing(vertices: np.ndarray, fov_deg: float, margin: float = 1.15) -> tuple[np.ndarray, float]:
    """Centre of the bounding box and the camera distance at which the bounding sphere fills the view
    (times ``margin``)."""
    v = np.asarray(vertices, dtype=np.float64)
    lo, hi = v.min(0), v.max(0)
    radius = max(float(np.linalg.norm(hi - lo)) / 2, 1e-6)
    return (lo + hi) / 2, margin * radius / math.sin(math.radians(fov_deg) / 2)
