"""Camera layouts around an object: look-at poses, turntable rings, held-out views between them.

Cameras are OpenCV world-to-camera (R, t) with z up in the world, as everywhere in texforge. Pure
numpy: the Blender dataset renderer, evaluation and any synthetic-data pipeline place cameras
with these.
"""

from __future__ import annotations

import math

import numpy as np


def look_at(eye: np.ndarray, target: np.ndarray, up=(0.0, 0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV world-to-camera (R 3x3, t 3) of a camera at ``eye`` looking at ``target``, image up ~ ``up``."""
    eye, target, up = (np.asarray(a, dtype=np.float64) for a in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("look_at: viewing direction is parallel to the up axis")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)  # image y points down
    R = np.stack([x, y, z])
    return R, -R @ eye


def ring_layout(views: int, elevations: tuple[float, float]) -> list[tuple[float, float]]:
    """(azimuth, elevation) in degrees of ``views`` cameras on rings between the two elevations.

    Rings go from the lowest to the highest elevation, each a full turn of evenly spaced azimuths
    (an ordered turntable sequence); successive rings are staggered so views interleave."""
    lo, hi = elevations
    rings = 1 if hi - lo < 1e-6 else int(min(views, max(2, round(math.sqrt(views / 2.5)))))
    counts = [views // rings + (1 if i < views % rings else 0) for i in range(rings)]
    out = []
    for i, n in enumerate(counts):
        elev = lo if rings == 1 else lo + (hi - lo) * i / (rings - 1)
        for j in range(n):
            az = -90.0 + 360.0 * (j + i / rings) / n
            out.append((az % 360.0, elev))
    return out


def turntable_layout(azimuths: int, elevations) -> list[tuple[float, float]]:
    """(azimuth, elevation) degrees, ring by ring, ``azimuths`` evenly spaced views per elevation
    starting at azimuth 0 (a turntable video's frames)."""
    return [(360.0 * k / azimuths, float(e)) for e in elevations for k in range(azimuths)]


def holdout_layout(count: int, elevations: tuple[float, float], train: list[tuple[float, float]]
                   ) -> list[tuple[float, float]]:
    """Held-out (azimuth, elevation) pairs: elevations at the midpoints of ``count`` equal slices of the
    range, azimuths on a golden-ratio sequence, nudged away from any training camera's direction."""
    lo, hi = elevations
    train_dirs = np.array([direction(a, e) for a, e in train])
    out = []
    for k in range(count):
        elev = lo + (hi - lo) * (k + 0.5) / count
        az = (-90.0 + 360.0 * ((k * 0.6180339887 + 0.31) % 1.0)) % 360.0
        for _ in range(16):  # step along until no training camera looks from (nearly) the same direction
            cos = train_dirs @ direction(az, elev)
            if np.degrees(np.arccos(np.clip(cos.max(), -1.0, 1.0))) > 3.0:
                break
            az = (az + 7.0) % 360.0
        out.append((az, elev))
    return out


def direction(az_deg: float, elev_deg: float) -> np.ndarray:
    """Unit vector from the object towards a camera at (azimuth, elevation) degrees (z up)."""
    a, e = math.radians(az_deg), math.radians(elev_deg)
    return np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])


def cameras_for(layout, center: np.ndarray, distance: float) -> tuple[np.ndarray, np.ndarray]:
    """R (N, 3, 3), t (N, 3) for (azimuth, elevation) pairs looking at ``center`` from ``distance``."""
    Rs, ts = [], []
    for az, elev in layout:
        R, t = look_at(center + distance * direction(az, elev), center)
        Rs.append(R), ts.append(t)
    return np.array(Rs), np.array(ts)
