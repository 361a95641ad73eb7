"""Weak-perspective (scaled orthographic) camera of the category models: scale s, quaternion q,
translation t in R^2.

    p = R(q) v                 (rotate the object; q = (w, x, y, z), normalised here)
    ndc_xy = s * p_xy + t      (kaolin NDC: x right, y up, image spans [-1, 1])

The viewer looks down -z of the rotated frame, so larger ``p_z`` is closer. For the renderer the
camera is placed at a nominal ``distance`` along +z: camera z = ``distance - p_z`` (positive for
objects inside a sphere of that radius) and kaolin depth = ``p_z - distance``. Interpolation is
screen-space (exact for an orthographic projection), and back-face culling by NDC winding is the same
as for perspective cameras (counter-clockwise seen from the viewer = front).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions (w, x, y, z), any norm > 0 -> (..., 3, 3) rotation matrices."""
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], dim=-1).reshape(*q.shape[:-1], 3, 3)


def weak_perspective_project(vertices: torch.Tensor, scale: torch.Tensor, quat: torch.Tensor,
                             trans: torch.Tensor):
    """vertices (V, 3) or (N, V, 3); scale (N,) or (N, 1); quat (N, 4); trans (N, 2).

    Returns NDC xy (N, V, 2) and the rotated z (N, V) (larger is closer)."""
    N = quat.shape[0]
    if vertices.dim() == 2:
        vertices = vertices.unsqueeze(0).expand(N, -1, -1)
    p = vertices @ quaternion_to_matrix(quat).transpose(1, 2)
    xy = scale.reshape(N, 1, 1) * p[..., :2] + trans.reshape(N, 1, 2)
    return xy, p[..., 2]


@dataclass
class WeakPerspectiveCameras:
    """N weak-perspective cameras for :func:`~.renderer.render_mesh` (duck-types ``Cameras``).

    scale (N,), quat (N, 4) (w, x, y, z), trans (N, 2), image ``width x height``."""

    scale: torch.Tensor
    quat: torch.Tensor
    trans: torch.Tensor
    width: int
    height: int
    distance: float = 10.0
    orthographic: bool = True

    def __post_init__(self):
        n = self.quat.shape[0]
        if self.quat.shape != (n, 4) or self.trans.shape != (n, 2) or self.scale.numel() != n:
            raise ValueError(f"need scale (N,), quat (N, 4), trans (N, 2); got {tuple(self.scale.shape)}, "
                             f"{tuple(self.quat.shape)}, {tuple(self.trans.shape)}")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")

    def __len__(self) -> int:
        return self.quat.shape[0]

    def project_ndc(self, points: torch.Tensor):
        """points (V, 3) or (N, V, 3) -> NDC xy (N, V, 2) and kaolin depth (N, V) = p_z - distance."""
        xy, z = weak_perspective_project(points, self.scale, self.quat, self.trans)
        return xy, z - self.distance
