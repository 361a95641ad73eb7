"""The joint fit of mesh, texture and camera corrections (seed 000, stage 1) and its helpers.

The mesh is a template whose vertices are ``base + offsets``; ``base`` is the ellipsoid of the initial
fit, re-based at every subdivision (coarse-to-fine). Losses per view: soft-silhouette IoU (DIB-R soft
mask, band annealed from wide to sharp and set in pixels so it means the same at every resolution),
masked L1 image loss against a texture learned by gradient (its only purpose is to let the colours
pull the cameras into place; the final texture is extracted by projection), an optional perceptual
term, and the regularisers (uniform Laplacian relative to the mean edge length, face-normal
consistency, edge-length uniformity).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...metrics.image import hard_iou
from ...mesh.regularizers import (
    MeshTopology,
    edge_length_loss,
    laplacian_loss,
    normal_consistency_loss,
    vertex_normals,
)
from ...mesh.subdivide import subdivide_arrays
from ...render.camera import Cameras


def band_to_sigmainv(band_px: float, resolution: int) -> tuple[float, float]:
    """Soft-mask half-width in pixels (where a single edge's soft mask is 0.5) -> (sigmainv, boxlen).

    ``exp(-sigmainv d^2) = 0.5`` at ``d = band_px`` pixels = ``2 band_px / resolution`` NDC; faces are
    considered up to 2 half-widths away (beyond that the soft mask is below 1/16; a wider box
    would also let kaolin's ``knum`` nearest-by-index faces crowd out the nearby ones)."""
    d = 2.0 * band_px / resolution
    return math.log(2.0) / (d * d), max(0.02, 2.0 * d)


def resample_views(images: torch.Tensor, masks: torch.Tensor, resolution: int):
    """images (N, H, W, 3), masks (N, H, W) -> area-resampled copies whose longest side is
    ``resolution`` (never upsampled) and their size (W, H)."""
    n, h, w = masks.shape
    s = min(1.0, resolution / max(h, w))
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    if (nw, nh) == (w, h):
        return images, masks, (w, h)
    im = F.interpolate(images.permute(0, 3, 1, 2), size=(nh, nw), mode="area").permute(0, 2, 3, 1)
    mk = F.interpolate(masks.unsqueeze(1), size=(nh, nw), mode="area").squeeze(1)
    return im.contiguous(), mk.contiguous(), (nw, nh)


class MeshModel(nn.Module):
    """A template mesh with a learnable global placement (shift (3,), log-scales (3,) per axis about
    ``anchor``) and learnable free vertex offsets (V, 3). base (V, 3), faces (F, 3), uvs (T, 2),
    face_uvs (F, 3) on one device. A sphere with only the placement learned is an ellipsoid fit."""

    def __init__(self, base: torch.Tensor, faces: torch.Tensor, uvs: torch.Tensor, face_uvs: torch.Tensor,
                 anchor: torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("base", base.detach().clone())
        self.register_buffer("anchor", (base.mean(0) if anchor is None else anchor).detach().clone())
        self.shift = nn.Parameter(torch.zeros(3, dtype=base.dtype, device=base.device))
        self.log_scale = nn.Parameter(torch.zeros(3, dtype=base.dtype, device=base.device))
        self.register_buffer("faces", faces)
        self.register_buffer("uvs", uvs)
        self.register_buffer("face_uvs", face_uvs)
        self.offsets = nn.Parameter(torch.zeros_like(self.base))
        self.topo = MeshTopology(faces, base.shape[0])

    def vertices(self) -> torch.Tensor:
        return self.anchor + self.shift + torch.exp(self.log_scale) * (self.base - self.anchor) + self.offsets

    @torch.no_grad()
    def centre(self) -> torch.Tensor:
        return self.anchor + self.shift

    @torch.no_grad()
    def subdivided(self) -> MeshModel:
        v, f, uv, fuv = subdivide_arrays(self.vertices().cpu().numpy(), self.faces.cpu().numpy(),
                                         self.uvs.cpu().numpy(), self.face_uvs.cpu().numpy())
        dev, dt = self.base.device, self.base.dtype
        return MeshModel(torch.as_tensor(v, dtype=dt, device=dev), torch.as_tensor(f, device=dev),
                         torch.as_tensor(uv, dtype=dt, device=dev), torch.as_tensor(fuv, device=dev),
                         anchor=self.centre())

    def mean_edge_length(self, vertices: torch.Tensor) -> torch.Tensor:
        e = self.topo.edges
        return (vertices[e[:, 0]] - vertices[e[:, 1]]).norm(dim=-1).mean()

    def regularizers(self, vertices: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.mean_edge_length(vertices).detach().clamp_min(1e-12)
        return {"laplacian": laplacian_loss(vertices, self.topo) / (h * h),
                "normal": normal_consistency_loss(vertices, self.faces, self.topo),
                "edge": edge_length_loss(vertices, self.topo)}

    @torch.no_grad()
    def normals(self) -> torch.Tensor:
        return vertex_normals(self.vertices(), self.faces)


def render(mesh: MeshModel, vertices: torch.Tensor, cameras: Cameras, texture: torch.Tensor | None,
           band_px: float, soft_mask: bool = True):
    """Render ``vertices`` of ``mesh`` with a soft-mask band of ``band_px`` pixels. texture
    (1, 3, Ht, Wt) or None. Returns the renderer's RenderOutput."""
    from ...render.renderer import render_mesh

    sigmainv, boxlen = band_to_sigmainv(band_px, max(cameras.width, cameras.height))
    if texture is None:
        return render_mesh(vertices, mesh.faces, cameras, sigmainv=sigmainv, boxlen=boxlen, soft_mask=soft_mask)
    return render_mesh(vertices, mesh.faces, cameras, uvs=mesh.uvs, face_uvs=mesh.face_uvs, texture=texture,
                       sigmainv=sigmainv, boxlen=boxlen, soft_mask=soft_mask)


@torch.no_grad()
def view_ious(mesh: MeshModel, cameras: Cameras, masks: torch.Tensor, batch: int = 8) -> torch.Tensor:
    """Hard-mask IoU per view (N,) of the current mesh."""
    from ...render.renderer import render_mesh

    v = mesh.vertices()
    out = []
    for s in range(0, len(cameras), batch):
        idx = torch.arange(s, min(s + batch, len(cameras)), device=v.device)
        r = render_mesh(v, mesh.faces, cameras[idx], soft_mask=False)
        out.append(hard_iou(r.hard_mask.float(), masks[idx]))
    return torch.cat(out)
