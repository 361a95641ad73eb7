"""Object placement from silhouettes, and gauge-fixed per-view camera corrections.

Placement: the object centre is the least-squares intersection of the rays through the mask
centroids; its radius comes from the silhouette extents at the centre's depth. The fit starts from a
sphere there, so the object stays where the photos see it.

Corrections are parameterised in the world frame: camera i is rotated about its own centre by
``Exp(w_i)`` and its centre moves by ``dist * d_i``:  R_i' = R_i Exp(w_i),  c_i' = c_i + dist * d_i.
Images alone cannot tell a rig (with the object) from a rotated / shifted / scaled copy of it
(7 gauge freedoms), so after every optimiser step :meth:`CameraRig.fix_gauge` projects those 7
directions out of the corrections of the active views: the corrected rig stays in the input
cameras' world frame, and the object where the photos see it.
"""

from __future__ import annotations

import torch
from torch import nn

from ...render.camera import Cameras
from ...render.pose import axis_angle_to_matrix
from ...runtime.errors import InputError


def mask_centroids(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """masks (N, H, W) in [0, 1] -> pixel centroids (N, 2) (u, v with pixel centres at j + 0.5) and
    foreground areas (N,) in pixels."""
    n, h, w = masks.shape
    ys = torch.arange(h, dtype=masks.dtype, device=masks.device) + 0.5
    xs = torch.arange(w, dtype=masks.dtype, device=masks.device) + 0.5
    area = masks.sum((1, 2))
    safe = area.clamp_min(1e-6)
    u = (masks.sum(1) * xs).sum(-1) / safe
    v = (masks.sum(2) * ys).sum(-1) / safe
    return torch.stack([u, v], -1), area


def pixel_rays(cameras: Cameras, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """pixels (N, 2) -> world ray origins (N, 3) and unit directions (N, 3)."""
    ones = torch.ones_like(pixels[:, :1])
    homo = torch.cat([pixels, ones], -1).unsqueeze(-1)
    d_cam = torch.linalg.solve(cameras.K, homo).squeeze(-1)
    d_world = (cameras.R.transpose(1, 2) @ d_cam.unsqueeze(-1)).squeeze(-1)
    return cameras.centers, torch.nn.functional.normalize(d_world, dim=-1)


def ray_intersection(origins: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Least-squares point closest to all rays (N, 3) -> (3,)."""
    eye = torch.eye(3, dtype=origins.dtype, device=origins.device)
    proj = eye - dirs.unsqueeze(-1) * dirs.unsqueeze(-2)      # (N, 3, 3)
    A = proj.sum(0)
    b = (proj @ origins.unsqueeze(-1)).sum(0).squeeze(-1)
    return torch.linalg.solve(A, b)


def place_object(cameras: Cameras, masks: torch.Tensor, names: list[str]) -> tuple[torch.Tensor, float]:
    """Centre (3,) and radius of the object seen by the masks. Raises InputError naming a frame whose
    camera does not look at the object (centre behind it or far outside its image)."""
    cams = cameras.to(dtype=torch.float64)
    cent, area = mask_centroids(masks.to(torch.float64))
    origins, dirs = pixel_rays(cams, cent)
    centre = ray_intersection(origins, dirs)
    _, z = cams.project(centre.unsqueeze(0))
    z = z[:, 0]
    for i in range(len(cams)):
        if not torch.isfinite(z[i]) or z[i] <= 0:
            raise InputError(f"frame {names[i]}: the camera faces away from the object the other views see "
                             f"(object centre is behind it); check its transform_matrix")
    pix, _ = cams.project(centre.unsqueeze(0))
    off = (pix[:, 0] - cent).norm(dim=-1)
    diag = (cams.width ** 2 + cams.height ** 2) ** 0.5
    for i in range(len(cams)):
        if off[i] > 0.5 * diag:
            raise InputError(f"frame {names[i]}: its camera does not point at the object the other views see "
                             f"(object centre projects {off[i]:.0f} px from the silhouette); check its pose")
    f = 0.5 * (cams.K[:, 0, 0] + cams.K[:, 1, 1])
    # radius of a disc of the silhouette's area, at the centre's depth
    radius = ((area / torch.pi).sqrt() * z / f).median()
    return centre.to(cameras.K.dtype), float(radius)


class CameraRig(nn.Module):
    """Learnable world-frame corrections of N cameras with a fixed gauge (see module docstring).

    Parameters: ``rot`` (N, 3) axis-angle, ``pos`` (N, 3) centre shift in units of the mean camera
    distance to the object centre."""

    def __init__(self, cameras: Cameras, centre: torch.Tensor):
        super().__init__()
        self.base = cameras.detach()
        self.centre = centre.detach().to(cameras.K)
        n = len(cameras)
        self.rot = nn.Parameter(torch.zeros(n, 3, dtype=cameras.K.dtype, device=cameras.device))
        self.pos = nn.Parameter(torch.zeros(n, 3, dtype=cameras.K.dtype, device=cameras.device))
        radial = self.base.centers - self.centre
        self.distance = float(radial.norm(dim=-1).mean())
        self.radial_dir = torch.nn.functional.normalize(radial, dim=-1)
        self.register_buffer("active", torch.ones(n, dtype=torch.bool, device=cameras.device))

    def forward(self, index: torch.Tensor | None = None, size: tuple[int, int] | None = None) -> Cameras:
        """The corrected cameras (all, or the views in ``index``), differentiable in the corrections,
        for images of ``size`` (W, H) (default: the input size)."""
        base, rot, pos = self.base, self.rot, self.pos
        if size is not None and tuple(size) != (base.width, base.height):
            base = base.resized(*size)
        if index is not None:
            base = Cameras(base.K[index], base.R[index], base.t[index], base.width, base.height)
            rot, pos = rot[index], pos[index]
        R = base.R @ axis_angle_to_matrix(rot)
        c = base.centers + self.distance * pos
        t = -(R @ c.unsqueeze(-1)).squeeze(-1)
        return Cameras(base.K, R, t, base.width, base.height)

    @torch.no_grad()
    def fix_gauge(self) -> None:
        """Remove the similarity-transform part of the active views' corrections.

        Images cannot see a rotation / translation / scaling of the whole rig with the object, so those
        7 directions of the correction space are projected out (to first order): a rotation ``omega``
        about the object centre turns every camera by ``-omega`` (in this parameterisation) and orbits
        its centre by ``omega x r_i``; a translation moves every centre alike; a scaling moves them radially.
        A common turn of the cameras about their own centres is NOT a gauge freedom (the object would
        shift in every image) and is kept, so the mean rotation noise of the input can be corrected."""
        a = self.active
        if int(a.sum()) < 3:
            return
        w, p = self.rot[a], self.pos[a]
        m = len(w)
        r = (self.base.centers[a] - self.centre) / self.distance                  # (M, 3)
        basis = torch.zeros(7, m, 6, dtype=w.dtype, device=w.device)             # gauge directions
        eye = torch.eye(3, dtype=w.dtype, device=w.device)
        for k in range(3):
            # the scene turned by omega about the centre: X -> Exp(omega) X is seen identically by
            # R' = R Exp(-omega) (so w = -omega) from c' = c + omega x (c - centre)
            basis[k, :, :3] = -eye[k]
            basis[k, :, 3:] = torch.cross(eye[k].expand_as(r), r, dim=-1)
            basis[3 + k, :, 3 + k] = 1.0                                           # translation
        basis[6, :, 3:] = self.radial_dir[a]                                       # scale
        G = basis.reshape(7, -1).T                                                 # (6M, 7)
        x = torch.cat([w, p], -1).reshape(-1, 1)
        coef = torch.linalg.lstsq(G, x).solution
        x = (x - G @ coef).reshape(m, 6)
        self.rot[a] = x[:, :3]
        self.pos[a] = x[:, 3:]

    def prior(self, pos_weight: float = 1.0) -> torch.Tensor:
        """Mean squared size of the active corrections; ``pos_weight`` scales the centre term.

        A turn of a camera about its own centre and a sideways shift of it move the object's image
        almost alike (only perspective tells them apart), so without a firm prior on the shift the
        pair drifts together along that near-null direction during long fits."""
        a = self.active
        return (self.rot[a] ** 2).sum(-1).mean() + pos_weight * (self.pos[a] ** 2).sum(-1).mean()
