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

Converters to and from Blender camera data and NeRF ``transforms.json`` frames are plain numpy in
``texforge.geometry.camera_convert`` (no torch, no ``bpy``); ``texforge_blender.camera`` reads the values off Blender
objects and calls them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# The numpy conversions live in geometry.camera_convert (no torch, for Blender without PyTorch); re-exported here
# because every caller that builds Cameras also needs them.
from ..geometry.camera_convert import (  # noqa: F401
    GL_TO_CV,
    blender_intrinsics,
    blender_params_from_intrinsics,
    c2w_gl_to_rt,
    rt_to_c2w_gl,
    transforms_frame_entry,
    transforms_intrinsics,
)


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


