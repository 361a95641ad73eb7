"""Where the object is: its centre and size from the silhouettes and the cameras.

The centre is the least-squares intersection of the rays through the mask centroids; the radius
comes from the silhouette areas at the centre's depth. A fit that starts from a sphere there keeps
the object where the photos see it.

A silhouette cut by the image border has its centroid pulled inwards and too small an area, so
views whose masks touch the border are left out of both estimates when enough others remain
(:func:`whole_views`).
"""

from __future__ import annotations

import torch

from ..losses.silhouette import touches_border
from ..render.camera import Cameras
from ..runtime.errors import InputError

# views needed for a centre (two rays meet in a point; a third makes it robust to one bad camera)
MIN_WHOLE_VIEWS = 3


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


def whole_views(masks: torch.Tensor) -> torch.Tensor:
    """Indices (M,) of the views whose masks do not touch the image border (the object is whole in
    them), or of every view when fewer than MIN_WHOLE_VIEWS are whole."""
    whole = ~torch.as_tensor(touches_border(masks.detach().cpu().numpy()))
    if int(whole.sum()) < MIN_WHOLE_VIEWS:
        return torch.arange(len(masks))
    return torch.nonzero(whole).squeeze(1)


def object_centre(cameras: Cameras, masks: torch.Tensor) -> torch.Tensor:
    """The point closest to the rays through the silhouette centroids of the whole views (3,)
    (float64 for float64 cameras)."""
    idx = whole_views(masks).to(masks.device)
    cent, _ = mask_centroids(masks[idx].to(cameras.K.dtype))
    return ray_intersection(*pixel_rays(cameras[idx], cent))


def place_object(cameras: Cameras, masks: torch.Tensor, names: list[str]) -> tuple[torch.Tensor, float]:
    """Centre (3,) and radius of the object seen by the masks. Raises InputError naming a frame whose
    camera does not look at the object (centre behind it or far outside its image)."""
    cams = cameras.to(dtype=torch.float64)
    cent, area = mask_centroids(masks.to(torch.float64))
    centre = object_centre(cams, masks.to(torch.float64))
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
    radius = ((area / torch.pi).sqrt() * z / f)[whole_views(masks).to(z.device)].median()
    return centre.to(cameras.K.dtype), float(radius)
