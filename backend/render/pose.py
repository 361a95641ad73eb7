"""Differentiable per-view camera corrections for pose refinement.

A correction is applied on top of the input cameras, in camera space, so a zero correction returns
the input exactly:  R' = dR @ R,  t' = dR @ t + dt,  f' = f * exp(dlogf).
Rotation is parameterised as axis-angle (3 numbers, zero = identity) or 6D (two columns, Zhou et al.
2019, initialised at identity). Gauge fixing (which views may move) is up to the pipeline.
"""

from __future__ import annotations

import torch
from torch import nn

from .camera import Cameras


def axis_angle_to_matrix(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 3, 3) rotation. Smooth at zero (Taylor terms below 1e-4 rad)."""
    theta2 = (v * v).sum(-1, keepdim=True)
    theta = torch.sqrt(theta2.clamp_min(1e-24))
    small = theta2 < 1e-8
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / theta2.clamp_min(1e-24))
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*v.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=v.dtype, device=v.device).expand_as(skew)
    return eye + a.unsqueeze(-1) * skew + b.unsqueeze(-1) * (skew @ skew)


def matrix_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation -> (..., 3) axis-angle (not for use inside a loss: no care at pi)."""
    cos = ((R.diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0) / 2.0).clamp(-1.0, 1.0)
    theta = torch.acos(cos)
    w = torch.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)
    s = torch.sin(theta)
    scale = torch.where(s.abs() < 1e-6, torch.full_like(theta, 0.5), theta / (2.0 * s.clamp_min(1e-12)))
    return w * scale.unsqueeze(-1)


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt on the two given columns."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def rotation_angle_deg(Ra: torch.Tensor, Rb: torch.Tensor) -> torch.Tensor:
    """Geodesic angle in degrees between rotations (..., 3, 3)."""
    rel = Ra @ Rb.transpose(-1, -2)
    cos = ((rel.diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0) / 2.0).clamp(-1.0, 1.0)
    return torch.rad2deg(torch.acos(cos))


class CameraCorrection(nn.Module):
    """Learnable corrections for N views: rotation, translation and (optionally) focal length."""

    def __init__(self, num_views: int, rotation: str = "axis_angle", focal: bool = False,
                 dtype=torch.float32, device=None):
        super().__init__()
        if rotation not in ("axis_angle", "6d"):
            raise ValueError(f"rotation must be 'axis_angle' or '6d', got {rotation!r}")
        self.rotation = rotation
        if rotation == "axis_angle":
            self.rot = nn.Parameter(torch.zeros(num_views, 3, dtype=dtype, device=device))
        else:
            eye = torch.tensor([1.0, 0, 0, 0, 1.0, 0], dtype=dtype, device=device)
            self.rot = nn.Parameter(eye.repeat(num_views, 1))
        self.trans = nn.Parameter(torch.zeros(num_views, 3, dtype=dtype, device=device))
        self.log_focal = nn.Parameter(torch.zeros(num_views, dtype=dtype, device=device), requires_grad=focal)

    def delta_rotation(self) -> torch.Tensor:
        if self.rotation == "axis_angle":
            return axis_angle_to_matrix(self.rot)
        return rotation_6d_to_matrix(self.rot)

    def forward(self, cameras: Cameras, index: torch.Tensor | None = None) -> Cameras:
        """Corrected cameras; ``index`` selects which views of the correction the batch holds."""
        dR = self.delta_rotation()
        dt, dlf = self.trans, self.log_focal
        if index is not None:
            dR, dt, dlf = dR[index], dt[index], dlf[index]
        R = dR @ cameras.R
        t = (dR @ cameras.t.unsqueeze(-1)).squeeze(-1) + dt
        f_scale = torch.exp(dlf)
        scale = torch.ones_like(cameras.K)
        scale[:, 0, 0] = f_scale
        scale[:, 1, 1] = f_scale
        K = cameras.K * scale
        return Cameras(K, R, t, cameras.width, cameras.height)
