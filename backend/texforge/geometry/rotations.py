"""Rotation helpers on numpy arrays, through ``scipy.spatial.transform.Rotation``.

The torch forms that autograd must differentiate (the camera rig's axis-angle, the 6D form) and the
angle between rotations that the evaluation reports stay in :mod:`texforge.render.pose`; numpy code
that builds rotations uses these.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def axis_angle(axis, angle: float) -> np.ndarray:
    """Rotation matrix (3, 3) about ``axis`` (normalised here) by ``angle`` radians."""
    axis = np.asarray(axis, dtype=np.float64)
    return Rotation.from_rotvec(axis / np.linalg.norm(axis) * angle).as_matrix()


def rotvec_to_matrix(rotvec) -> np.ndarray:
    """Axis-angle vectors (..., 3) (direction = axis, length = angle in radians) -> (..., 3, 3)."""
    v = np.asarray(rotvec, dtype=np.float64)
    return Rotation.from_rotvec(v.reshape(-1, 3)).as_matrix().reshape(*v.shape[:-1], 3, 3)


def matrix_to_rotvec(R) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> axis-angle vectors (..., 3)."""
    R = np.asarray(R, dtype=np.float64)
    return Rotation.from_matrix(R.reshape(-1, 3, 3)).as_rotvec().reshape(*R.shape[:-2], 3)


def random_unit(rng: np.random.Generator) -> np.ndarray:
    """A direction drawn uniformly on the sphere (3 normal draws from ``rng``)."""
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)
